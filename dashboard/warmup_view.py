"""The warm-up's progress on Home: what a user sees while the server loads and traces the models.

Why a polling fragment: the warm-up runs in a server thread that cannot push to a session, so
the fragment rereads the snapshot every second and, once the warm-up has ended, reruns the whole
page once so that the final state is drawn without the timer (a fragment's ``run_every`` cannot be
switched off from inside).
"""
from __future__ import annotations

import streamlit as st

from dashboard import warmup

POLL_S = 1.0


def render() -> None:
    """Draw the warm-up state: a progress bar while it runs, then one line saying it is ready."""
    snapshot = warmup.progress()
    if snapshot.state in ("off", "idle"):
        return
    if snapshot.state == "warming":
        _poll()
    else:
        _final(snapshot)


@st.fragment(run_every=POLL_S)
def _poll() -> None:
    """The bar and the current step; reruns the page when the warm-up ends."""
    snapshot = warmup.progress()
    if snapshot.state != "warming":
        st.rerun(scope="app")
    st.progress(snapshot.fraction,
                text=f"Warming up the models: {snapshot.done} of {snapshot.total} ready"
                     + (f" ({snapshot.step})" if snapshot.step else ""))
    st.caption("You can upload now: your first results wait only for what is left of the warm-up.")


def _final(snapshot: warmup.Progress) -> None:
    """Ready (with the time it took) or what failed; a failed model still loads on first use."""
    took = f" in {snapshot.elapsed_s:.0f} s" if snapshot.elapsed_s is not None else ""
    if snapshot.state == "ready":
        st.success(f"Models ready: all {snapshot.total} loaded and traced{took}.", icon=":material/check:")
    else:
        st.warning("Warm-up finished with errors; the affected models load on first use, where the "
                   "error will show again:\n\n" + "\n".join(f"- {e}" for e in snapshot.errors))
