"""Shared AppTest steps for the page tests (``test_app_pages``, ``test_report_view``).

Why a module: the two test files drove the same pages with the same clicks; when a widget key
changed, one copy was fixed and the other failed later. Not a test file (no ``test_`` prefix).
"""
from __future__ import annotations

from pathlib import Path

from streamlit.testing.v1 import AppTest

APP = str(Path(__file__).resolve().parent.parent / "streamlit_app.py")
TIMEOUT = 300
"""Seconds an AppTest run may take: the first run loads every shipped model on 2 CPU cores."""


def open_page(page: str) -> AppTest:
    """Run the app, then switch to ``page`` and run it, failing on any exception shown."""
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    at.switch_page(page)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def study_a_lits_tumour_slice(at: AppTest) -> None:
    """On Teaching: pick the LiTS gallery, large tumours only, and study the first slice."""
    at.selectbox(key="teaching_dataset").set_value(
        next(p for p in at.selectbox(key="teaching_dataset").options if "lits" in str(p)))
    at.run()
    at.selectbox(key="teaching_label").set_value("tumour")
    at.checkbox(key="teaching_large").check()
    at.run()
    next(b for b in at.button if b.label == "Study").click()
    at.run()
    assert not at.exception, [e.value for e in at.exception]
