"""A fresh install in a real browser: "Try the example" on Diagnose and on Volume, no upload, no dataset.

Same setup as ``test_e2e_browser.py`` (``streamlit run`` + Debian's Chromium via Playwright);
screenshots go to ``artifacts/screenshots/`` (git-ignored).
"""
from __future__ import annotations

from test_e2e_browser import (  # noqa: F401 - app_url is a fixture used by name
    CHROMIUM_ARGS,
    PREDICT_TIMEOUT_MS,
    SCREENSHOTS,
    _chromium,
    _settle_and_screenshot,
    _wait_idle,
    app_url,
    shown_calls,
)

from liver_model.zoo import list_shipped_models


def test_the_example_shows_predictions_gradcam_and_the_volume_curve(app_url: str) -> None:  # noqa: F811
    from playwright.sync_api import expect, sync_playwright

    model_ids = [card.model_id for card in list_shipped_models()]
    assert model_ids, "no shipped models to test"
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=_chromium(), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1500, "height": 1100})
            page.goto(f"{app_url}/diagnose", wait_until="domcontentloaded")
            page.get_by_role("button", name="Try the example").click()
            expect(page.get_by_text("p(tumour) =")).to_have_count(shown_calls(model_ids), timeout=PREDICT_TIMEOUT_MS)
            expect(page.get_by_text(f"{len(model_ids)} explanation maps shown")).to_be_visible(
                timeout=PREDICT_TIMEOUT_MS)
            expect(page.get_by_text("TotalSegmentator").first).to_be_visible()
            expect(page.get_by_text("Slice 11 of 20:")).to_be_visible()
            _settle_and_screenshot(page, "example_diagnose_gradcam.png")

            page.goto(f"{app_url}/volume", wait_until="domcontentloaded")
            expect(page.get_by_role("heading", name="Volume")).to_be_visible(timeout=60_000)
            page.get_by_role("button", name="Try the example").click()
            expect(page.get_by_text("p(tumour) along the volume")).to_be_visible(timeout=PREDICT_TIMEOUT_MS)
            _wait_idle(page)
            expect(page.locator(".scatterlayer .trace")).to_have_count(shown_calls(model_ids))
            _settle_and_screenshot(page, "example_volume.png", height=1800)
            assert page.locator('[data-testid="stException"]').count() == 0
        finally:
            browser.close()
