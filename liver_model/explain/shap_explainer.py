"""SHAP: the model-agnostic Partition explainer with an image masker.

Why Partition and not DeepExplainer / GradientExplainer: on Keras 3 DeepExplainer fails on
depthwise convolutions and, worse, leaves shap's gradient overrides registered, so every later
gradient in the process fails (Grad-CAM raises ``shap_Mean``; STACK-FACTS). In a Streamlit server
that breaks all gradient explanations until a restart. GradientExplainer fails on some
architectures (``shap_StridedSlice``). Partition only calls the model on masked images, so it
works on every architecture, the ViT included, and cannot disturb TensorFlow.

Partition SHAP computes Owen values over a fixed binary hierarchy of image blocks: at most
``max_evals`` model calls, which bounds the cost and decides how deep into the hierarchy (how
fine) the map goes. Hidden blocks are blurred (``"blur(16,16)"``) or inpainted
(``"inpaint_telea"``), which keeps the model on CT-like inputs. The algorithm is deterministic;
``seed`` also seeds NumPy's global generator around the call so that any future sampling in
shap stays reproducible, and is stored with the result. The first call in a process also
JIT-compiles shap's numba code (about 20 s on the 2-core CPU, measured); later calls do not.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from liver_model.explain.adapter import ModelAdapter
from liver_model.explain.base import Progress

_BATCH = 50
"""Masked images per model call (fixed, so results do not depend on timing)."""


def shap_partition(adapter: ModelAdapter, x: np.ndarray, target: str, params: dict[str, Any],
                   progress: Progress | None) -> np.ndarray:
    """Partition-SHAP value per pixel (S, S) (summed over the three windows); signed.

    ``params``: ``max_evals`` (model calls), ``masker`` (shap image masker spec), ``seed``.
    """
    import shap  # on first use: importing shap costs ~1.2 s that an app start need not pay

    max_evals = int(params["max_evals"])
    seen = [0]

    def model_fn(images: np.ndarray) -> np.ndarray:
        p = adapter.predict_proba(np.asarray(images, np.float32))
        seen[0] += len(images)
        if progress is not None:
            progress(min(1.0, seen[0] / max_evals))
        return (p if target == "tumour" else 1.0 - p)[:, None]

    masker = shap.maskers.Image(params["masker"], x.shape)
    explainer = shap.explainers.Partition(model_fn, masker, output_names=[target])
    state = np.random.get_state()
    np.random.seed(int(params["seed"]))
    try:
        values = explainer(x[None].astype(np.float32), max_evals=max_evals,
                           batch_size=_BATCH, silent=True).values
    finally:
        np.random.set_state(state)
    return np.asarray(values, np.float64).reshape(x.shape[0], x.shape[1], -1).sum(axis=-1)
