"""Vanilla gradient saliency and SmoothGrad, on the target-class logit.

Why own code rather than tf-keras-vis' ``Saliency``: the adapter's compiled input-gradient
function computes a whole batch of noisy copies in one call, which SmoothGrad needs, without
tf-keras-vis' eager per-call model rebuild. The map is ``max_c |dz/dx_c|`` over the three CT
windows (Simonyan et al. 2014), so a pixel lights up if any window is sensitive there.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from liver_model.explain.adapter import ModelAdapter
from liver_model.explain.base import Progress

_BATCH = 16
"""Noisy copies per compiled call: bounded memory, few calls."""


def saliency(adapter: ModelAdapter, x: np.ndarray, target: str, params: dict[str, Any],
             progress: Progress | None) -> np.ndarray:
    """Vanilla gradient saliency (S, S); unnormalised."""
    grads = adapter.input_gradients(x[None], target)[0]
    return np.abs(grads).max(axis=-1)


def smoothgrad(adapter: ModelAdapter, x: np.ndarray, target: str, params: dict[str, Any],
               progress: Progress | None) -> np.ndarray:
    """SmoothGrad (Smilkov et al. 2017): mean saliency over ``samples`` noisy copies.

    ``noise`` is the Gaussian sigma as a share of the input's value range (0.1-0.2 is the
    paper's recommendation); ``seed`` fixes the noise so a map can be reproduced.
    """
    samples = int(params["samples"])
    rng = np.random.default_rng(int(params["seed"]))
    sigma = float(params["noise"]) * float(x.max() - x.min() or 255.0)
    total = np.zeros(x.shape[:2], np.float64)
    done = 0
    while done < samples:
        n = min(_BATCH, samples - done)
        noisy = x[None] + rng.normal(0.0, sigma, size=(n,) + x.shape).astype(np.float32)
        grads = adapter.input_gradients(noisy, target)
        total += np.abs(grads).max(axis=-1).sum(axis=0)
        done += n
        if progress is not None:
            progress(done / samples)
    return (total / samples).astype(np.float32)
