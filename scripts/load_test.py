"""Load benchmark: N users at once on Diagnose, each in its own headless Chromium (issue 12, part 3).

For every N in --sessions, N browsers open Diagnose, then all upload at the same moment, each a
different real LiTS slice (distinct across all rounds, so nothing comes from the app's caches),
and wait until every shipped model's prediction is shown, then Grad-CAM's maps (switched on if it
is not on by default), then LIME's (unless --no-lime). Times are measured from handing the file to
the upload widget, so they include the upload, the script run, the websocket and the rendering.

Unless --url is given, the script starts its own server on a free loopback port: serve.py when it
exists and --launcher serve (ready when GET /ready answers 200: its warm start is what is measured),
else `streamlit run` (ready when /_stcore/health answers, then one warm-up session that loads the
models and traces their functions, as a long-running server would have done already).

While it runs, a thread samples every 0.2 s the server's RSS (its process tree) and the CPU time of
the server and of the browsers from /proc. On a 2-core machine N Chromiums compete with the server
for the CPU: a round whose browser CPU is large next to the server's measures client contention as
much as server latency. --pin puts the server on core 0 and the browsers on core 1 to separate them.
"Other CPU" is what the rest of the machine used meanwhile (another job skews the numbers).

Prints a table (p50/p95 per phase, errors, peak RSS, CPU split) and with --json writes the raw
times, the machine, the date and the command line.
"""
from __future__ import annotations

import argparse
import asyncio
import datetime
import json
import os
import shlex
import sys
import tempfile
import time
import urllib.parse
from dataclasses import asdict, dataclass, field
from pathlib import Path
from collections.abc import Callable
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import load_support as support  # noqa: E402

ERROR_SELECTOR = '[data-testid="stException"], [data-testid="stAlertContentError"]'
# Conditions evaluated in the page every POLL_MS (textContent: no layout, cheap for the browser).
COUNT_JS = """(needle) => {
  const root = document.querySelector('[data-testid="stMain"]') || document.body;
  return root.textContent.split(needle).length - 1; }"""
MAPS_JS = """() => {
  const root = document.querySelector('[data-testid="stMain"]') || document.body;
  const m = root.textContent.match(/(\\d+) explanation maps shown/);
  return m ? Number(m[1]) : -1; }"""
IDLE_JS = ("() => document.querySelector('[data-testid=\"stApp\"]')?.getAttribute('data-test-script-state')"
           " === 'notRunning'")
POLL_MS = 100
OPEN_TIMEOUT_S = 120.0


@dataclass
class SessionResult:
    """One user's upload: seconds from the upload to each phase (None when not reached)."""

    slice: str
    to_predictions_s: float | None = None
    to_gradcam_s: float | None = None
    to_lime_s: float | None = None
    lime_only_s: float | None = None
    """From switching LIME on to its maps (the LIME work alone)."""
    predictions_shown: int = 0
    gradcam_maps: int = 0
    lime_maps: int = 0
    errors: list[str] = field(default_factory=list)


def shipped_model_ids(models_dir: Path = support.REPO / "assets" / "models") -> list[str]:
    """Model ids as the app lists them (a card and weights), read without importing TensorFlow."""
    return sorted(d.name for d in models_dir.iterdir()
                  if (d / "card.json").is_file() and (d / "model.weights.h5").is_file())


async def _wait_value(page: Any, js: str, arg: Any, ok: Any, timeout_s: float) -> Any:
    """Poll ``js(arg)`` in the page until ``ok(value)``; returns the value."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = await page.evaluate(js, arg) if arg is not None else await page.evaluate(js)
        if ok(value):
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout_s:.0f} s (last value {value!r})")
        await asyncio.sleep(POLL_MS / 1000)


async def _switch_on(page: Any, label: str, timeout_s: float) -> bool:
    """Turn an explanation toggle on; False when it already was (Grad-CAM is on by default)."""
    switch = page.get_by_role("switch", name=label, exact=True)
    await switch.wait_for(timeout=timeout_s * 1000)
    if await switch.is_checked():
        return False
    await switch.locator("xpath=ancestor::label").click(timeout=timeout_s * 1000)
    return True


async def _shown_errors(page: Any) -> list[str]:
    """Text of the exceptions and st.error boxes on the page."""
    return [(await e.inner_text())[:300] for e in await page.locator(ERROR_SELECTOR).all()]


async def open_session(pw: Any, url: str) -> tuple[Any, Any]:
    """A fresh Chromium on Diagnose, ready for an upload (not timed: it is the user opening the app)."""
    browser = await pw.chromium.launch(executable_path=support.CHROMIUM, args=support.CHROMIUM_ARGS)
    page = await browser.new_page(viewport={"width": 1500, "height": 1100})
    await page.goto(f"{url}/diagnose", wait_until="domcontentloaded", timeout=OPEN_TIMEOUT_S * 1000)
    await page.locator('input[type="file"]').wait_for(state="attached", timeout=OPEN_TIMEOUT_S * 1000)
    # Every session starts from a finished first run, so all uploads meet the same server state.
    await page.wait_for_function(IDLE_JS, timeout=OPEN_TIMEOUT_S * 1000, polling=POLL_MS)
    return browser, page


async def measure(page: Any, slice_path: Path, n_calls: int, lime: bool, timeout_s: float) -> SessionResult:
    """Upload one slice, then wait for predictions, Grad-CAM and LIME; errors are recorded, not raised."""
    result = SessionResult(slice=slice_path.name)
    start = time.monotonic()

    def left() -> float:
        return max(1.0, timeout_s - (time.monotonic() - start))

    phase = "upload"
    try:
        await page.locator('input[type="file"]').set_input_files(str(slice_path))
        phase = "predictions"
        await _wait_value(page, COUNT_JS, "p(tumour) =", lambda v: v >= n_calls, left())
        result.to_predictions_s = time.monotonic() - start
        result.predictions_shown = await page.evaluate(COUNT_JS, "p(tumour) =")
        phase = "Grad-CAM"
        await _switch_on(page, "Grad-CAM", left())
        result.gradcam_maps = await _wait_value(page, MAPS_JS, None, lambda v: v > 0, left())
        result.to_gradcam_s = time.monotonic() - start
        if lime:
            phase = "LIME"
            clicked = time.monotonic()
            await _switch_on(page, "LIME", left())
            cam = result.gradcam_maps
            result.lime_maps = await _wait_value(page, MAPS_JS, None, lambda v: v > cam, left()) - cam
            result.to_lime_s = time.monotonic() - start
            result.lime_only_s = time.monotonic() - clicked
        result.errors += await _shown_errors(page)
    except Exception as err:  # noqa: BLE001 - a failed session is a data point, not the end of the run
        result.errors.append(f"{phase}: {type(err).__name__}: {str(err).splitlines()[0][:300] if str(err) else ''}")
        try:
            result.errors += await _shown_errors(page)
        except Exception:  # noqa: BLE001 - the page may be gone
            pass
    return result


async def run_round(url: str, slices: list[Path], n_calls: int, lime: bool, timeout_s: float,
                    mark: Callable[[str], None] = lambda _: None) -> list[SessionResult]:
    """Open len(slices) browsers, let them upload at the same moment, measure each, close them.

    ``mark("upload")`` and ``mark("done")`` bracket the measured window (the browsers' start-up and
    page load are outside it), so CPU can be read for the window the latencies come from.
    """
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        opened = await asyncio.gather(*(asyncio.wait_for(open_session(pw, url), OPEN_TIMEOUT_S) for _ in slices),
                                      return_exceptions=True)
        try:
            async def one(item: Any, path: Path) -> SessionResult:
                if isinstance(item, BaseException):
                    return SessionResult(slice=path.name, errors=[f"open: {type(item).__name__}: {item}"])
                return await measure(item[1], path, n_calls, lime, timeout_s)
            mark("upload")
            results = list(await asyncio.gather(*(one(item, path) for item, path in zip(opened, slices))))
            mark("done")
            return results
        finally:
            await asyncio.gather(*(item[0].close() for item in opened if not isinstance(item, BaseException)),
                                 return_exceptions=True)


class CpuMarks:
    """CPU snapshots (server, browsers, whole machine) at named moments of a round."""

    def __init__(self, sampler: support.Sampler) -> None:
        self.sampler = sampler
        self.at: dict[str, tuple[float, float, float, float]] = {}

    def __call__(self, name: str) -> None:
        self.sampler.sample()
        self.at[name] = (*self.sampler.cpu(), support.machine_busy_seconds(), time.monotonic())

    def between(self, first: str, last: str) -> dict[str, float]:
        """Server, browser and other CPU seconds, and wall seconds, from ``first`` to ``last``."""
        server, client, busy, wall = (b - a for a, b in zip(self.at[first], self.at[last]))
        return {"server_cpu_s": server, "browser_cpu_s": client,
                "other_cpu_s": max(0.0, busy - server - client), "wall_s": wall}


def summarise(n: int, sessions: list[SessionResult], sampler: support.Sampler, marks: CpuMarks) -> dict[str, Any]:
    """One round for the table and the JSON: CPU of the upload window at the top level (what the
    latencies compete for), of the whole round (browser start-up and page load too) below."""
    window = marks.between("upload", "done") if {"upload", "done"} <= marks.at.keys() else marks.between("start", "end")
    return {"n": n, "sessions": [asdict(s) for s in sessions], "errors": sum(bool(s.errors) for s in sessions),
            "peak_rss_mib": sampler.peak_rss / 2**20, **window,
            "server_cpu_per_upload_s": window["server_cpu_s"] / n, "whole_round": marks.between("start", "end")}


def pin_process(pid: int, cores: set[int]) -> None:
    """Pin every thread of an already running process (the --url server) to ``cores``."""
    for tid in os.listdir(f"/proc/{pid}/task"):
        os.sched_setaffinity(int(tid), cores)


def build_parser() -> argparse.ArgumentParser:
    """The command line (its --help is the module docstring plus each option's why)."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sessions", default="1,4,8,16",
                        help=f"comma-separated numbers of simultaneous sessions, one round each (1..{support.MAX_SESSIONS})")
    parser.add_argument("--json", type=Path, help="write raw times, machine, date and command line here")
    parser.add_argument("--url", help="measure a running server instead of starting one (needs --pid)")
    parser.add_argument("--pid", type=int, help="the --url server's process id, for RSS and CPU sampling")
    parser.add_argument("--no-lime", action="store_true", help="stop after Grad-CAM (LIME takes minutes per session)")
    parser.add_argument("--launcher", choices=("serve", "streamlit"), default="serve",
                        help="serve: serve.py with its /ready route (falls back to streamlit run when serve.py "
                             "is absent); streamlit: plain `streamlit run`")
    parser.add_argument("--no-warmup", action="store_true",
                        help="skip the warm-up session done before the rounds when /ready is not used")
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds per session, upload to last phase")
    parser.add_argument("--ready-timeout", type=float, default=300.0, help="seconds for the server to get ready")
    parser.add_argument("--pin", action="store_true", help="server on core 0, browsers (and this script) on core 1")
    parser.add_argument("--offset", type=int, default=0,
                        help="skip this many slices of the deterministic order (rerun against a warm server)")
    parser.add_argument("--data", type=Path, default=support.default_data_dir(), help="the shared datasets folder")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        counts = support.parse_sessions(args.sessions)
    except ValueError as err:
        parser.error(str(err))
    if args.url and args.pid is None:
        parser.error("--url needs --pid (the server process to sample)")
    if args.url and urllib.parse.urlsplit(args.url).hostname not in ("127.0.0.1", "localhost", "::1"):
        parser.error("--url must be a loopback address: the server's RSS and CPU are read from this machine's /proc")
    if args.timeout <= 0:
        parser.error("--timeout must be positive")
    if not Path(support.CHROMIUM).is_file():
        parser.error(f"{support.CHROMIUM} not found (apt-get install chromium)")
    models = shipped_model_ids()
    n_calls = len(models) + support.combined_calls(models)  # "p(tumour) =" bars per upload
    if not models:
        print("no shipped models in assets/models/: nothing to measure")
        return 1
    uses_ready = not args.url and args.launcher == "serve" and (support.REPO / "serve.py").is_file()
    warmup = not args.no_warmup and not uses_ready
    slices = support.choose_slices(args.data / "lits_windowed_jpg" / "manifest.csv", sum(counts) + warmup, args.offset)

    server, log, ready_s = None, None, None
    if args.url:
        url, pid = args.url.rstrip("/"), args.pid
        if args.pin:
            pin_process(pid, {0})
    else:
        port = support.free_port()
        command = support.server_command(args.launcher if uses_ready else "streamlit", port)
        log = Path(tempfile.mkdtemp(prefix="load_test_")) / "server.log"
        server = support.start_server(command, log, 0 if args.pin else None)
        url, pid = f"http://127.0.0.1:{port}", server.pid
        print(f"server: {shlex.join(command)} (log {log})", flush=True)
    if args.pin:
        os.sched_setaffinity(0, {1})  # Playwright's driver and the browsers inherit it
    report: dict[str, Any] = {
        "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "command": shlex.join([sys.executable, *(sys.argv if argv is None else [__file__, *argv])]), "machine": support.machine_info(), "url": url,
        "launcher": "url" if args.url else ("serve" if uses_ready else "streamlit"), "models": models,
        "lime": not args.no_lime, "pinned": args.pin, "rounds": []}
    try:
        with support.Sampler(server_pid=pid) as sampler:
            if not args.url:
                ready_s = support.wait_ready(url, "/ready" if uses_ready else "/_stcore/health", server,
                                             args.ready_timeout, log)
                print(f"ready after {ready_s:.1f} s ({'/ready' if uses_ready else '/_stcore/health'})", flush=True)
            report["server_ready_s"] = ready_s
            if warmup:
                start = time.monotonic()
                (warm,) = asyncio.run(run_round(url, slices[:1], n_calls, not args.no_lime, args.timeout))
                report["warmup"] = asdict(warm) | {"wall_s": time.monotonic() - start}
                print(f"warm-up session: {time.monotonic() - start:.1f} s, errors: {warm.errors or 'none'}", flush=True)
            used = int(warmup)
            for n in counts:
                sampler.reset_peak()
                marks = CpuMarks(sampler)
                marks("start")
                sessions = asyncio.run(run_round(url, slices[used:used + n], n_calls, not args.no_lime,
                                                 args.timeout, marks))
                marks("end")
                used += n
                summary = summarise(n, sessions, sampler, marks)
                report["rounds"].append(summary)
                print(f"N={n}: done in {summary['whole_round']['wall_s']:.0f} s, "
                      f"{summary['errors']} session(s) with errors", flush=True)
                for s in sessions:
                    for error in s.errors:
                        print(f"  {s.slice}: {error}", flush=True)
    finally:
        if server is not None:
            support.stop_server(server)
    print(f"\n{len(models)} models; times in s from upload; CPU s from the common upload moment to the "
          "last session's end; "
          f"{'pinned (server core 0, browsers core 1)' if args.pin else 'not pinned'}; "
          f"{report['machine']['cores']} cores, {report['machine']['cpu_model']}")
    print(support.table(report["rounds"]))
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")
        print(f"wrote {args.json}")
    return 0 if all(r["errors"] == 0 for r in report["rounds"]) else 2


if __name__ == "__main__":
    sys.exit(main())
