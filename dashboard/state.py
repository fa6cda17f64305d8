"""Every ``st.session_state`` key the dashboard uses, with its default, in one place.

Why one module: Diagnose, Compare and Volume share "the slice under review" across page switches
(a file uploader's own state is dropped when its page is left), so the keys they agree on must
not be string literals scattered over pages.
"""
from __future__ import annotations

import os
from typing import Any

import streamlit as st

ACTIVE_BUNDLE = "active_bundle"
"""The last successfully read upload (:class:`dashboard.uploads.UploadBundle`), shared by pages."""
ACTIVE_POSITION = "active_position"
"""Position of the slice under review in ``ACTIVE_BUNDLE.slices``."""
DATA_DIR = "data_dir"
"""Dataset folder for the Teaching page (a folder holding ``manifest.csv``, or a parent of such)."""
TEACHING_PICK = "teaching_pick"
"""Row of the manifest picked in the Teaching gallery."""

ENTRY_RAN = "entry_script_ran"
"""True once ``streamlit_app.py`` has run in this session (see :mod:`dashboard.navigation`)."""

DATA_DIR_ENV = "LIVERLENS_DATA_DIR"
"""Environment variable that pre-fills the dataset folder (none is shipped with the app)."""

DEFAULTS: dict[str, Any] = {
    ACTIVE_BUNDLE: None,
    ACTIVE_POSITION: 0,
    DATA_DIR: None,
    TEACHING_PICK: None,
}


def init_state() -> None:
    """Fill missing keys with their defaults; called once per run by ``streamlit_app.py``.

    The dataset folder default is read from the environment here, not at import time, so a test
    can set ``LIVERLENS_DATA_DIR`` per AppTest.
    """
    for key, value in DEFAULTS.items():
        if key not in st.session_state:
            st.session_state[key] = value
    if st.session_state[DATA_DIR] is None:
        st.session_state[DATA_DIR] = os.environ.get(DATA_DIR_ENV, "")
    st.session_state[ENTRY_RAN] = True


def set_active(bundle: Any, position: int = 0) -> None:
    """Make ``bundle`` the slice source under review, at ``position``, for every page."""
    st.session_state[ACTIVE_BUNDLE] = bundle
    st.session_state[ACTIVE_POSITION] = int(position)


def clear_active() -> None:
    """Forget the slice under review (the user pressed "clear")."""
    st.session_state[ACTIVE_BUNDLE] = None
    st.session_state[ACTIVE_POSITION] = 0
