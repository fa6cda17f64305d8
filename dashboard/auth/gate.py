"""The login form that stands before every page when login is on, and the sidebar's logout button.

:func:`require_login` is called by ``streamlit_app.py`` before ``navigation.run()`` (so Home and
every page in ``pages/`` pass through it) and by :func:`dashboard.navigation.ensure_app_navigation`
when a page runs without the entry script (Streamlit's legacy ``pages/`` mode). A session that is
not logged in gets the form and its run stops: the page's script never starts, so none of its
content, uploads included, is reachable.

The password is taken out of session state as soon as it has been checked, and the form's fields
are emptied in the browser (``clear_on_submit``). Logging out deletes the whole session state,
uploads included, so the next person at the same browser starts empty.
"""
from __future__ import annotations

import logging
import math

import streamlit as st

from dashboard.auth import passwords
from dashboard.auth.limiter import LIMITER
from dashboard.auth.settings import AuthFileError, AuthSettings, current_settings

LOGGER = logging.getLogger(__name__)

AUTH_USER = "auth_user"
"""Session key of the logged-in user name (absent when nobody is logged in)."""
FORM_KEY = "auth_login_form"
PASSWORD_KEY = "auth_password"
"""Session key of the password field, deleted once the password has been checked."""
LOGOUT_KEY = "auth_logout"

REFUSED = "Wrong user name or password."
"""The one answer to an unknown user name and to a wrong password alike."""


def require_login() -> None:
    """Return if login is off or this session is logged in; otherwise draw the form and stop.

    The auth file is read on every run, so adding a user or turning login off needs no restart,
    and a user removed from the file is logged out at their next click.
    """
    try:
        settings = current_settings()
    except AuthFileError as err:
        LOGGER.error("login is misconfigured, admitting nobody: %s", err)
        st.error("Login is on but its settings cannot be read, so no page is shown. "
                 "The server's log says what to fix in the auth file.")
        st.stop()
    if not settings.enabled:
        return
    user = st.session_state.get(AUTH_USER)
    if user is not None and user in settings.users:
        _logout_button(user)
        return
    if user is not None:
        _forget_session()  # their user was removed: drop what they left in the session
    _login_form(settings)
    st.stop()


def _login_form(settings: AuthSettings) -> None:
    """The form; a successful login reruns the script, which then passes the gate."""
    st.title("LiverLens")
    st.caption("Research and teaching tool, not a medical device.")
    if not settings.users:
        st.error("Login is on, but no user exists yet. On the server, run "
                 "`python -m dashboard.auth add-user NAME`.")
        return
    with st.form(FORM_KEY, clear_on_submit=True):
        st.subheader("Log in")
        name = st.text_input("User name", max_chars=64, autocomplete="username")
        password = st.text_input("Password", type="password", autocomplete="current-password",
                                 key=PASSWORD_KEY)
        submitted = st.form_submit_button("Log in", type="primary")
    if submitted:
        st.session_state.pop(PASSWORD_KEY)
        refusal = _attempt(settings, name.strip(), password)
        if refusal is None:
            st.rerun()
        st.error(refusal)


def _attempt(settings: AuthSettings, name: str, password: str) -> str | None:
    """Log ``name`` in and return None, or return why not (never which of name or password was wrong)."""
    if not name or not password:
        return "Enter a user name and a password."
    wait = LIMITER.retry_after(name)
    if wait > 0:
        return (f"Too many failed logins for this user name. Try again in {math.ceil(wait / 60)} "
                "minute(s).")
    if passwords.verify(settings.users, name, password):
        LIMITER.record_success(name)
        st.session_state[AUTH_USER] = name
        LOGGER.info("user %r logged in", name)
        return None
    if LIMITER.record_failure(name, settings.max_failures, settings.lockout_s):
        LOGGER.warning("user name %r locked for %g min after %d failed logins", name,
                       settings.lockout_minutes, settings.max_failures)
    return REFUSED


def _logout_button(user: str) -> None:
    """Who is logged in, and the button that ends the session (clearing everything in it)."""
    with st.sidebar:
        st.caption(f"Logged in as **{user}**")
        if st.button("Log out", key=LOGOUT_KEY, icon=":material/logout:"):
            LOGGER.info("user %r logged out", user)
            _forget_session()
            st.rerun()


def _forget_session() -> None:
    """Delete every key of this session's state: the login, the uploads, every widget's value.

    Not ``st.session_state.clear()``: that is ``MutableMapping.clear``, which pops keys until one
    raises KeyError, and a form's submit-button entry does, so it stopped after an arbitrary
    subset (the login was kept in some runs). ``pop`` with a default skips just that entry.
    """
    for key in list(st.session_state.keys()):
        st.session_state.pop(key, None)
