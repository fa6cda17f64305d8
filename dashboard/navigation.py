"""Make a deep link (``/diagnose``) on a fresh server run the app's ``st.navigation``.

Streamlit decides per process whether an app uses the legacy ``pages/`` directory: until some
session has run ``streamlit_app.py`` (whose ``st.navigation`` call switches the process to the
Page API), a request for ``/diagnose`` runs ``pages/diagnose.py`` on its own, with the legacy
file-name sidebar and without the entry script's page config and state defaults. Every page
therefore calls :func:`ensure_app_navigation` first: in that legacy first run it switches the
process over and reruns, so the entry script runs and routes to the same page (its URL path,
hence its page hash, is identical in both modes). Only a session that has never run the entry
script is rerun: a rerun drops the button clicks of the run it replaces, and
``streamlit.testing.v1.AppTest`` starts every run in the legacy mode after the first.
"""
from __future__ import annotations

import streamlit as st
from streamlit.runtime.pages_manager import PagesManager

from dashboard import state, tf_runtime
from dashboard.auth import gate


def ensure_app_navigation() -> None:
    """Rerun through ``streamlit_app.py`` if this page was started by the legacy pages mode.

    Also installs :func:`dashboard.tf_runtime.keep_tensorflow_warm`, since in that legacy first run
    the entry script (which normally installs it) has not run, and for the same reason asks for the
    optional login (:func:`dashboard.auth.gate.require_login`) when the page runs in legacy mode:
    only there, so that a run through the entry script asks once.
    """
    tf_runtime.keep_tensorflow_warm()
    if PagesManager.uses_pages_directory:
        if not st.session_state.get(state.ENTRY_RAN):
            PagesManager.uses_pages_directory = False
            st.rerun()
        gate.require_login()  # the entry script, which normally asks, did not run
