"""scripts/load_test.py: its pieces on real inputs, and one real round (N=1) against its own server.

The round starts ``streamlit run`` and a headless Chromium exactly as the benchmark does, so a
change to the Diagnose page that breaks the benchmark's selectors (prediction text, Grad-CAM
switch, map caption) fails here rather than when the lead runs the full table.
"""
from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "scripts"))

import load_support as support  # noqa: E402
import load_test  # noqa: E402


def test_percentile_matches_numpy_on_real_shaped_times() -> None:
    times = [2.16, 7.6, 8.0, 14.7, 17.1, 22.3, 27.6, 3.3, 3.3]
    for q in (0, 50, 95, 100):
        assert support.percentile(times, q) == pytest.approx(float(np.percentile(times, q)))
    assert support.percentile([4.2], 95) == 4.2
    assert math.isnan(support.percentile([], 50))


def test_slices_are_distinct_real_liver_slices_deterministic_and_shifted_by_offset(lits_manifest: Path) -> None:
    import hashlib

    from liver_model.manifest import read_manifest

    count = 1 + 1 + 4 + 8 + 16 + 32  # warm-up plus the largest sensible table
    chosen = support.choose_slices(lits_manifest, count)
    assert chosen == support.choose_slices(lits_manifest, count)
    assert len({hashlib.sha256(p.read_bytes()).digest() for p in chosen}) == count  # no cache hit possible
    frame = read_manifest(lits_manifest).set_index("path")
    rows = frame.loc[[str(p) for p in chosen]]
    assert (rows["has_liver"].astype(int) == 1).all()
    assert set(rows["label"][:20]) == {"tumour", "normal"}
    assert rows["patient_id"][:20].nunique() >= 8  # spread over patients, not one volume
    shifted = support.choose_slices(lits_manifest, 10, offset=count)
    assert not set(shifted) & set(chosen)
    with pytest.raises(ValueError, match="distinct slices"):
        support.choose_slices(lits_manifest, 5000)


@pytest.mark.parametrize("text", ["0", "33", "1,64", "", "a,b", "-1"])
def test_session_counts_outside_1_to_32_are_refused(text: str) -> None:
    with pytest.raises(ValueError):
        support.parse_sessions(text)
    with pytest.raises(SystemExit):
        load_test.main(["--sessions", text or ","])


def test_session_counts_parse_and_url_needs_pid() -> None:
    assert support.parse_sessions("1,4, 8,16") == [1, 4, 8, 16]
    assert support.parse_sessions("32") == [32]
    with pytest.raises(SystemExit):
        load_test.main(["--sessions", "1", "--url", "http://127.0.0.1:9"])
    with pytest.raises(SystemExit):  # not loopback: its RSS could not be read here
        load_test.main(["--sessions", "1", "--url", "http://10.0.0.7:8501", "--pid", str(os.getpid())])


def test_sampler_sees_rss_and_cpu_of_a_real_process_tree() -> None:
    """A parent that holds 100 MiB and a child that holds 200 MiB and burns CPU: the peak covers
    both (children count), and the CPU time of the burning child is seen."""
    code = ("import subprocess, sys, time; a = bytearray(100 * 2**20); "
            "c = subprocess.Popen([sys.executable, '-c', 'b = bytearray(200 * 2**20); import time; "
            "t = time.time()\\nwhile time.time() - t < 1.5: pass\\ntime.sleep(30)']); print('up', flush=True); "
            "time.sleep(30)")
    parent = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert parent.stdout is not None and parent.stdout.readline().strip() == "up"
        with support.Sampler(server_pid=parent.pid, interval_s=0.05) as sampler:
            time.sleep(2.0)
        assert sampler.samples >= 10
        assert sampler.peak_rss >= 300 * 2**20
        assert sampler.peak_rss < 600 * 2**20
        server_cpu, client_cpu = sampler.cpu()
        assert server_cpu >= 1.0  # the child's busy loop (1.5 s)
        assert client_cpu < 0.5  # the sampled tree is the "server": none of it is client time
        assert len(support.descendants(parent.pid)) == 2
    finally:
        for pid in support.descendants(parent.pid)[::-1]:
            os.kill(pid, 9)
        parent.wait()
    assert support.cpu_seconds(parent.pid) == 0.0 and support.rss_bytes(parent.pid) == 0


def test_unreachable_server_is_an_error_of_the_session_not_a_crash(lits_manifest: Path) -> None:
    import asyncio

    if not Path(support.CHROMIUM).is_file():
        pytest.fail("Debian's chromium is not installed (.ci/run installs it)")
    (path,) = support.choose_slices(lits_manifest, 1)
    url = f"http://127.0.0.1:{support.free_port()}"  # nothing listens there
    (result,) = asyncio.run(load_test.run_round(url, [path], 4, lime=False, timeout_s=20))
    assert result.to_predictions_s is None
    assert result.errors and result.errors[0].startswith("open:")


def test_one_real_session_against_its_own_server(tmp_path: Path, datasets_dir: Path) -> None:
    out = tmp_path / "load.json"
    started = time.monotonic()
    code = load_test.main(["--sessions", "1", "--no-lime", "--launcher", "streamlit", "--json", str(out),
                           "--data", str(datasets_dir), "--timeout", "240"])
    report = json.loads(out.read_text())
    assert code == 0, report
    models = load_test.shipped_model_ids()
    assert report["models"] == models and report["machine"]["cores"] == os.cpu_count()
    assert report["launcher"] == "streamlit" and report["warmup"]["errors"] == []
    assert "--sessions 1 --no-lime" in report["command"]
    (round_,) = report["rounds"]
    (session,) = round_["sessions"]
    assert session["slice"] != report["warmup"]["slice"]
    assert session["predictions_shown"] == len(models) + load_test.support.combined_calls(models)
    assert session["gradcam_maps"] == len(models)
    assert 0 < session["to_predictions_s"] <= session["to_gradcam_s"] < time.monotonic() - started
    assert session["to_lime_s"] is None and session["errors"] == []
    assert 300 < round_["peak_rss_mib"] < 8000  # TensorFlow and four models are resident
    assert round_["server_cpu_s"] > 0.1 and round_["browser_cpu_s"] > 0.1


def test_wait_ready_waits_through_503_and_stops_on_a_failed_warm_up() -> None:
    """A real HTTP server answering like serve.py's /ready: 503 while warming, then 200 (or 500)."""
    import http.server
    import threading

    answers: list[int] = []

    class Ready(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            self.send_response(answers.pop(0) if len(answers) > 1 else answers[0])
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    with http.server.ThreadingHTTPServer(("127.0.0.1", 0), Ready) as httpd:
        threading.Thread(target=httpd.serve_forever, daemon=True).start()
        url = f"http://127.0.0.1:{httpd.server_address[1]}"
        answers[:] = [503, 503, 503, 200]
        assert 0.5 <= support.wait_ready(url, "/ready", None, timeout_s=10) < 5
        answers[:] = [503, 500]
        with pytest.raises(RuntimeError, match="500"):
            support.wait_ready(url, "/ready", None, timeout_s=10)
        answers[:] = [503]
        with pytest.raises(RuntimeError, match="not 200"):
            support.wait_ready(url, "/ready", None, timeout_s=1)
        httpd.shutdown()
    assert support.http_status(url + "/ready") is None  # nothing listens any more


def test_errors_shown_by_the_app_are_read_from_the_page() -> None:
    """The selectors for st.exception and st.error, on a page with Streamlit's own test ids."""
    import asyncio

    from playwright.async_api import async_playwright

    async def shown() -> list[str]:
        async with async_playwright() as pw:
            browser = await pw.chromium.launch(executable_path=support.CHROMIUM, args=support.CHROMIUM_ARGS)
            page = await browser.new_page()
            await page.set_content('<div data-testid="stAlertContentError">LIME failed on vit</div>'
                                   '<div data-testid="stAlertContentWarning">only a warning</div>'
                                   '<div data-testid="stException">ValueError: boom</div>')
            try:
                return await load_test._shown_errors(page)
            finally:
                await browser.close()

    assert asyncio.run(shown()) == ["LIME failed on vit", "ValueError: boom"]
