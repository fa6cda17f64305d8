"""Server memory after many uploads of different slices: do LiverLens' caches level off?

    .venv/bin/python scripts/memory_test.py                  # 300 uploads, own server (serve.py)
    .venv/bin/python scripts/memory_test.py --uploads 40     # a quick run
    .venv/bin/python scripts/memory_test.py --url http://127.0.0.1:8501 --pid 12345

Drives the real app: one headless Chromium (Debian's ``/usr/bin/chromium``, through Playwright)
keeps one session on Diagnose and uploads N different real LiTS slices one after the other (each
upload replaces the previous file), waiting each time until every shipped model's prediction and
Grad-CAM (on by default) are on the page. The server's resident memory (``VmRSS`` of its process,
read from ``/proc``) is printed after the first ``--first`` uploads and after all N, with the ratio.
Issue 12's target: within 20 % (ratio <= 1.20). One browser and one session on purpose: what
grows here is the server's caches and allocator, not the number of sessions (that is
``scripts/load_test.py``'s job).
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))
import load_support as support  # noqa: E402

DEFAULT_MANIFEST = REPO.parent / "shared" / "datasets" / "lits_windowed_jpg" / "manifest.csv"
START_TIMEOUT_S = 180.0
UPLOAD_TIMEOUT_S = 180.0
SET_FILE_TRIES = 3


def choose_slices(manifest: Path, count: int) -> list[Path]:
    """``count`` different slices, evenly spread over the manifest sorted by path (so over patients)."""
    with manifest.open(newline="") as handle:
        paths = sorted(manifest.parent / row["path"] for row in csv.DictReader(handle))
    if count > len(paths):
        raise SystemExit(f"--uploads {count}: the manifest has only {len(paths)} slices")
    step = len(paths) / count
    return [paths[int(i * step)] for i in range(count)]


def rss_mib(pid: int) -> float:
    """Resident memory of one process in MiB (``VmRSS``)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for process {pid}")


def wait_ready(url: str, server: subprocess.Popen[bytes] | None, log: Path | None,
               ready_path: str | None = None) -> float:
    """Seconds until the server is ready: :func:`load_support.wait_ready` on ``ready_path``, or, for
    a running server given by ``--url`` (None), on ``/ready`` if it has one (``serve.py``) and on the
    health check otherwise (``streamlit_app.py``)."""
    if ready_path is None:
        ready_path = "/ready" if support.http_status(f"{url}/ready") != 404 else "/_stcore/health"
    try:
        return support.wait_ready(url, ready_path, server, START_TIMEOUT_S, log)
    except RuntimeError as err:
        raise SystemExit(str(err)) from err


def model_ids() -> list[str]:
    """Ids of the shipped models."""
    sys.path.insert(0, str(REPO))
    from liver_model.zoo import list_shipped_models

    return [card.model_id for card in list_shipped_models()]


def wait_idle(page: Any, timeout_ms: float) -> None:
    """Wait until no script run is in progress in the session."""
    page.wait_for_timeout(200)
    page.wait_for_function(
        "() => document.querySelector('[data-testid=\"stApp\"]')?.getAttribute('data-test-script-state')"
        " === 'notRunning'", timeout=timeout_ms)


def upload(page: Any, path: Path, models: int, calls: int) -> float:
    """Replace the uploaded file with ``path``; seconds until the ``calls`` "p(tumour) =" bars
    (models and combined calls) and the ``models`` Grad-CAMs are shown."""
    from playwright.sync_api import expect

    timeout = UPLOAD_TIMEOUT_S * 1000
    started = time.monotonic()
    delete = page.get_by_test_id("stFileChipDeleteBtn").locator("button")
    if delete.count():
        delete.first.click()
        # A file set while the removal's rerun redraws the uploader is lost: wait for that run.
        expect(page.get_by_text("from your earlier upload")).to_be_visible(timeout=timeout)
        wait_idle(page, timeout)
    chip = page.locator(f'[data-testid="stFileChip"][aria-label^="{path.name},"]')  # the shown name is shortened
    for _ in range(SET_FILE_TRIES):  # the uploader, redrawn by the removal, can drop a file once
        page.locator('input[type="file"]').set_input_files(str(path))
        try:
            expect(chip).to_have_count(1, timeout=10_000)
            break
        except AssertionError:
            continue
    expect(chip).to_have_count(1, timeout=timeout)
    # The slice's own title is drawn first in the run this upload starts; then wait for that run.
    expect(page.locator(".gtitle", has_text=path.name).first).to_be_attached(timeout=timeout)
    wait_idle(page, timeout)
    expect(page.get_by_text("p(tumour) =")).to_have_count(calls, timeout=timeout)
    expect(page.get_by_text(f"{models} explanation maps shown")).to_be_visible(timeout=timeout)
    if page.get_by_test_id("stException").count():
        raise RuntimeError(f"the app showed an exception after uploading {path.name}")
    return time.monotonic() - started


def drive(url: str, pid: int, slices: list[Path], first: int, models: int, calls: int) -> dict[str, Any]:
    """Upload every slice in one session; RSS after ``first`` uploads and after all of them."""
    from playwright.sync_api import sync_playwright

    chromium = shutil.which("chromium") or "/usr/bin/chromium"
    rss: dict[str, float] = {"ready": rss_mib(pid)}
    times: list[float] = []
    peak = rss["ready"]
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, args=support.CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(f"{url}/diagnose", wait_until="domcontentloaded")
            page.locator('input[type="file"]').wait_for(state="attached", timeout=START_TIMEOUT_S * 1000)
            for done, path in enumerate(slices, start=1):
                times.append(upload(page, path, models, calls))
                peak = max(peak, rss_mib(pid))
                if done == first:
                    rss["first"] = rss_mib(pid)
                if done % 20 == 0 or done == len(slices):
                    print(f"{done:4d} uploads  RSS {rss_mib(pid):7.0f} MiB  last upload {times[-1]:.2f} s",
                          flush=True)
        finally:
            browser.close()
    rss["last"] = rss_mib(pid)
    ordered = sorted(times)
    return {"uploads": len(slices), "first": first, "rss_mib": {k: round(v, 1) for k, v in rss.items()},
            "peak_rss_mib": round(peak, 1), "ratio": round(rss["last"] / rss["first"], 3),
            "upload_s_median": round(ordered[len(ordered) // 2], 2), "upload_s_max": round(ordered[-1], 2)}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--uploads", type=int, default=300, help="different slices to upload (default 300)")
    parser.add_argument("--first", type=int, default=20, help="RSS is compared with the one after this many")
    parser.add_argument("--url", help="an already running server (then --pid is required)")
    parser.add_argument("--pid", type=int, help="process id of the server at --url, for its RSS")
    parser.add_argument("--launcher", default="serve.py", choices=("serve.py", "streamlit_app.py"),
                        help="what the own server runs (default serve.py: warm start and /ready)")
    parser.add_argument("--manifest", type=Path, default=DEFAULT_MANIFEST, help="slices to upload")
    parser.add_argument("--json", type=Path, help="also write the result here")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.url and args.pid is None:
        raise SystemExit("--url needs --pid (the server process whose memory is measured)")
    if not 1 <= args.first < args.uploads:
        raise SystemExit("need 1 <= --first < --uploads")
    slices = choose_slices(args.manifest, args.uploads)
    ids = model_ids()
    models, calls = len(ids), len(ids) + support.combined_calls(ids)  # read once, not per upload
    server, log, ready_path = None, None, None
    if args.url:
        url, pid = args.url.rstrip("/"), args.pid
    else:
        log = Path(tempfile.mkdtemp(prefix="liverlens-memory-")) / "server.log"
        port = support.free_port()
        serve = args.launcher == "serve.py"
        server = support.start_server(support.server_command("serve" if serve else "streamlit", port), log, None)
        url, pid, ready_path = f"http://127.0.0.1:{port}", server.pid, "/ready" if serve else "/_stcore/health"
    try:
        ready_s = wait_ready(url, server, log, ready_path)
        print(f"server ready after {ready_s:.1f} s; RSS {rss_mib(pid):.0f} MiB; "
              f"{len(slices)} uploads x {models} models (predictions + Grad-CAM)", flush=True)
        result = drive(url, pid, slices, args.first, models, calls)
    finally:
        if server is not None:
            support.stop_server(server)
    rss = result["rss_mib"]
    print(f"RSS after {args.first} uploads: {rss['first']:.0f} MiB; after {args.uploads}: {rss['last']:.0f} MiB; "
          f"ratio x{result['ratio']:.2f} (target <= 1.20); peak {result['peak_rss_mib']:.0f} MiB; "
          f"upload to Grad-CAM median {result['upload_s_median']:.2f} s, max {result['upload_s_max']:.2f} s")
    if args.json:
        args.json.write_text(json.dumps({**result, "launcher": None if args.url else args.launcher,
                                         "malloc_arena_max": os.environ.get("MALLOC_ARENA_MAX")}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
