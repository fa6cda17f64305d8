"""End to end in a real browser: ``streamlit run`` + Debian's headless Chromium driven by Playwright.

No browser is downloaded: Playwright launches the system Chromium found on PATH. The test
uploads a real LiTS slice on Diagnose, waits for every shipped model's prediction, switches on
LIME next to the default Grad-CAM, and saves screenshots in ``artifacts/screenshots/``
(git-ignored: they show licensed CT data) for a human to look at.
"""
from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from liver_model.ensemble import list_shipped_ensembles
from liver_model.manifest import read_manifest
from liver_model.zoo import list_shipped_models

REPO = Path(__file__).resolve().parent.parent
SCREENSHOTS = REPO / "artifacts" / "screenshots"
def shown_calls(model_ids: list[str]) -> int:
    """Calls Diagnose shows: one per model, plus each shipped ensemble's combined call."""
    return len(model_ids) + len(list_shipped_ensembles(model_ids))


CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
START_TIMEOUT_S = 120   # importing TensorFlow on a busy 2-core machine takes a while
PREDICT_TIMEOUT_MS = 180_000
LIME_TIMEOUT_MS = 400_000  # LIME fast preset on every shipped model, shared 2-core CPU


def _chromium() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        pytest.skip("Debian's chromium is not installed (apt-get install chromium)")
    return path


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _health(url: str) -> str | None:
    try:
        with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
            return response.read().decode()
    except OSError:
        return None


@pytest.fixture(scope="module")
def app_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A headless ``streamlit run streamlit_app.py`` on a free port, stopped after the module."""
    port = _free_port()
    log = tmp_path_factory.mktemp("streamlit") / "server.log"
    env = {k: v for k, v in os.environ.items() if k != "LIVERLENS_DATA_DIR"}
    with log.open("w") as out:
        server = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", "streamlit_app.py", "--server.headless", "true",
             "--server.port", str(port), "--server.address", "127.0.0.1", "--server.fileWatcherType", "none",
             "--browser.gatherUsageStats", "false"],
            cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while _health(url) != "ok":
            if server.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"streamlit did not become healthy:\n{log.read_text()[-3000:]}")
            time.sleep(0.5)
        yield url
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()


def _wait_idle(page, timeout_ms: int = PREDICT_TIMEOUT_MS) -> None:  # noqa: ANN001 - playwright Page
    """Wait until Streamlit reports that no script (or fragment) run is in progress."""
    page.wait_for_timeout(500)
    page.wait_for_function(
        "() => document.querySelector('[data-testid=\"stApp\"]')?.getAttribute('data-test-script-state')"
        " === 'notRunning'", timeout=timeout_ms)


def _settle_and_screenshot(page, name: str, height: int = 3400) -> None:  # noqa: ANN001 - playwright Page
    """Wait until the script run is over, then capture the whole page.

    Streamlit scrolls inside its main container, so a "full page" screenshot would only show the
    viewport: the viewport is made tall for the capture instead.
    """
    _wait_idle(page, LIME_TIMEOUT_MS)
    page.set_viewport_size({"width": 1500, "height": height})
    page.evaluate("document.querySelector('[data-testid=\"stMain\"]')?.scrollTo(0, 0)")
    page.wait_for_timeout(2000)  # plotly redraws at the new size
    page.screenshot(path=str(SCREENSHOTS / name))
    page.set_viewport_size({"width": 1500, "height": 1100})


def test_app_answers_health_check(app_url: str) -> None:
    assert _health(app_url) == "ok"


def test_diagnose_in_chromium_predicts_with_every_model_and_explains(app_url: str, lits_manifest: Path) -> None:
    from playwright.sync_api import expect, sync_playwright

    model_ids = [card.model_id for card in list_shipped_models()]
    assert model_ids, "no shipped models to test"
    frame = read_manifest(lits_manifest)
    slice_path = frame.loc[frame["tumour_pixels"].astype(int).idxmax(), "path"]
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=_chromium(), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1500, "height": 1100})
            page.goto(f"{app_url}/diagnose", wait_until="domcontentloaded")
            expect(page.get_by_text("Upload CT slice(s)")).to_be_visible(timeout=60_000)
            # A deep link on a fresh server still gets the app's own navigation (not file names).
            nav = page.get_by_test_id("stSidebarNav")
            expect(nav.get_by_text("Performance", exact=True)).to_be_visible(timeout=30_000)
            assert nav.get_by_text("streamlit app").count() == 0
            page.locator('input[type="file"]').set_input_files(slice_path)

            predictions = page.get_by_text("p(tumour) =")
            expect(predictions).to_have_count(shown_calls(model_ids), timeout=PREDICT_TIMEOUT_MS)
            for model_id in model_ids:
                expect(page.get_by_text(f"{model_id} (", exact=False).first).to_be_visible()
            expect(page.get_by_text("models say tumour")).to_be_visible()

            # Grad-CAM is on by default: one map per model.
            expect(page.get_by_text(f"{len(model_ids)} explanation maps shown")).to_be_visible(
                timeout=PREDICT_TIMEOUT_MS)
            _settle_and_screenshot(page, "diagnose_gradcam.png")

            page.get_by_role("switch", name="LIME", exact=True).locator("xpath=ancestor::label").click()
            expect(page.get_by_role("heading", name="LIME")).to_be_visible(timeout=30_000)
            expect(page.get_by_text(f"{2 * len(model_ids)} explanation maps shown")).to_be_visible(
                timeout=LIME_TIMEOUT_MS)
            _settle_and_screenshot(page, "diagnose_gradcam_lime.png")
            # Slice, then one Grad-CAM and one LIME overlay per model.
            expect(page.locator('[data-testid="stPlotlyChart"]')).to_have_count(1 + 2 * len(model_ids))
            assert page.locator('[data-testid="stException"]').count() == 0
        finally:
            browser.close()


def test_volume_to_diagnose_and_teaching_in_chromium(app_url: str, datasets_dir: Path) -> None:
    """A DICOM series on Volume, a slice opened in Diagnose by clicking its point on the chart,
    then a Teaching study from a folder typed into the sidebar (no dataset is configured)."""
    from playwright.sync_api import expect, sync_playwright

    model_ids = [card.model_id for card in list_shipped_models()]
    series = sorted(str(p) for p in (datasets_dir / "ircadb_dicom_sample" / "dicom").glob("*.dcm"))
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=_chromium(), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1500, "height": 1100})
            page.goto(f"{app_url}/volume", wait_until="domcontentloaded")
            page.locator('input[type="file"]').set_input_files(series)
            expect(page.get_by_text("p(tumour) along the volume")).to_be_visible(timeout=PREDICT_TIMEOUT_MS)
            _wait_idle(page)
            for model_id in model_ids:  # one legend entry per model
                exact = re.compile(rf"^{re.escape(model_id)}$")  # "vit" must not match "vit_tumour_map"
                expect(page.locator(".legendtext", has_text=exact)).to_have_count(1)
            _settle_and_screenshot(page, "volume_dicom_series.png", height=1800)

            # Clicking the 6th point of a model's line opens slice 6 of the series in Diagnose.
            page.locator(".scatterlayer .trace").first.locator(".point").nth(5).click(force=True)
            expect(page.get_by_role("heading", name="Diagnose")).to_be_visible(timeout=60_000)
            expect(page.get_by_text(f"Slice 6 of {len(series)}:")).to_be_visible(timeout=60_000)
            expect(page.get_by_text("p(tumour) =")).to_have_count(shown_calls(model_ids), timeout=PREDICT_TIMEOUT_MS)
            expect(page.get_by_text("Not HU-calibrated")).to_have_count(0)  # DICOM: real HU windows
            _settle_and_screenshot(page, "diagnose_dicom.png", height=2400)

            page.goto(f"{app_url}/teaching", wait_until="domcontentloaded")
            expect(page.get_by_text("No dataset folder is configured")).to_be_visible(timeout=60_000)
            folder = page.get_by_label("Dataset folder", exact=True).and_(page.get_by_test_id("stTextInputField"))
            folder.fill(str(datasets_dir / "lits_windowed_jpg"))
            folder.press("Enter")
            expect(page.get_by_role("button", name="Study").first).to_be_visible(timeout=60_000)
            _wait_idle(page)
            page.get_by_role("button", name="Study").first.click()
            expect(page.get_by_text("Does the explanation point at the tumour?")).to_be_visible(timeout=60_000)
            _wait_idle(page)
            page.get_by_text("2. Show the ground-truth mask").click()
            _settle_and_screenshot(page, "teaching_study.png", height=2600)
            assert page.locator('[data-testid="stException"]').count() == 0
        finally:
            browser.close()
