"""Keep TensorFlow's compiled state alive between Streamlit script runs.

After every script run Streamlit calls ``keras.backend.clear_session()`` when Keras is imported
(``streamlit.runtime.scriptrunner.script_runner._clean_problem_modules``), meant for apps that
build a model on every run. For LiverLens, whose models live in ``st.cache_resource``, that call
is harmful: it clears TensorFlow's kernel cache, so the first prediction of every model in every
run re-instantiates its kernels (measured: upload-to-predictions of 5 models 7-14 s instead of
well under a second), and it resets Keras' layer-name counters, so explainer sub-models built
in a later run collide with names the cached models already use.
"""
from __future__ import annotations

import sys
from typing import Any, cast

from streamlit.runtime.scriptrunner import script_runner


def _clean_problem_modules_except_keras() -> None:
    """Streamlit's per-run cleanup without ``keras.backend.clear_session()``.

    The matplotlib part is kept as Streamlit has it: figures left open by a run are closed.
    """
    if "matplotlib.pyplot" in sys.modules:
        cast(Any, sys.modules["matplotlib.pyplot"]).close("all")


def keep_tensorflow_warm() -> None:
    """Replace Streamlit's per-run cleanup (idempotent; called first by the entry script and pages)."""
    script_runner._clean_problem_modules = _clean_problem_modules_except_keras
