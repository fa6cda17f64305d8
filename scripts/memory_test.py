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
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
DEFAULT_MANIFEST = REPO.parent / "shared" / "datasets" / "lits_windowed_jpg" / "manifest.csv"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
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


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def http_status(url: str) -> int | None:
    """HTTP status of a GET, or None while nothing answers."""
    try:
        with urllib.request.urlopen(url, timeout=3) as response:
            return int(response.status)
    except urllib.error.HTTPError as err:
        return int(err.code)
    except OSError:
        return None


def start_server(launcher: str, log: Path) -> tuple[subprocess.Popen[bytes], str]:
    """``streamlit run <launcher>`` on a free loopback port; returns the process and its URL."""
    port = free_port()
    command = [sys.executable, "-m", "streamlit", "run", launcher, "--server.headless", "true",
               "--server.port", str(port), "--server.address", "127.0.0.1",
               "--server.fileWatcherType", "none", "--browser.gatherUsageStats", "false"]
    with log.open("wb") as out:
        server = subprocess.Popen(command, cwd=REPO, stdout=out, stderr=subprocess.STDOUT)
    return server, f"http://127.0.0.1:{port}"


def wait_ready(url: str, server: subprocess.Popen[bytes] | None, log: Path | None) -> float:
    """Seconds until ``/ready`` says 200 (``serve.py``), or the health check (``streamlit_app.py``)."""
    start = time.monotonic()
    while time.monotonic() - start < START_TIMEOUT_S:
        if server is not None and server.poll() is not None:
            raise SystemExit(f"the server exited:\n{log.read_text()[-3000:] if log else ''}")
        ready = http_status(f"{url}/ready")
        if ready == 200 or (ready == 404 and http_status(f"{url}/_stcore/health") == 200):
            return time.monotonic() - start
        if ready == 500:
            raise SystemExit(f"warm-up failed: see {url}/ready")
        time.sleep(0.5)
    raise SystemExit(f"the server was not ready within {START_TIMEOUT_S:.0f} s")


def n_models() -> int:
    """Shipped models, and so predictions and Grad-CAM maps expected per upload."""
    sys.path.insert(0, str(REPO))
    from liver_model.zoo import list_shipped_models

    return len(list_shipped_models())


def wait_idle(page: Any, timeout_ms: float) -> None:
    """Wait until no script run is in progress in the session."""
    page.wait_for_timeout(200)
    page.wait_for_function(
        "() => document.querySelector('[data-testid=\"stApp\"]')?.getAttribute('data-test-script-state')"
        " === 'notRunning'", timeout=timeout_ms)


def upload(page: Any, path: Path, models: int) -> float:
    """Replace the uploaded file with ``path``; seconds until predictions and Grad-CAMs are shown."""
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
    expect(page.get_by_text("p(tumour) =")).to_have_count(models, timeout=timeout)
    expect(page.get_by_text(f"{models} explanation maps shown")).to_be_visible(timeout=timeout)
    if page.get_by_test_id("stException").count():
        raise RuntimeError(f"the app showed an exception after uploading {path.name}")
    return time.monotonic() - started


def drive(url: str, pid: int, slices: list[Path], first: int, models: int) -> dict[str, Any]:
    """Upload every slice in one session; RSS after ``first`` uploads and after all of them."""
    from playwright.sync_api import sync_playwright

    chromium = shutil.which("chromium") or "/usr/bin/chromium"
    rss: dict[str, float] = {"ready": rss_mib(pid)}
    times: list[float] = []
    peak = rss["ready"]
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(f"{url}/diagnose", wait_until="domcontentloaded")
            page.locator('input[type="file"]').wait_for(state="attached", timeout=START_TIMEOUT_S * 1000)
            for done, path in enumerate(slices, start=1):
                times.append(upload(page, path, models))
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
    models = n_models()
    server, log = None, None
    if args.url:
        url, pid = args.url.rstrip("/"), args.pid
    else:
        log = Path(tempfile.mkdtemp(prefix="liverlens-memory-")) / "server.log"
        server, url = start_server(args.launcher, log)
        pid = server.pid
    try:
        ready_s = wait_ready(url, server, log)
        print(f"server ready after {ready_s:.1f} s; RSS {rss_mib(pid):.0f} MiB; "
              f"{len(slices)} uploads x {models} models (predictions + Grad-CAM)", flush=True)
        result = drive(url, pid, slices, args.first, models)
    finally:
        if server is not None:
            server.terminate()
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                server.kill()
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
