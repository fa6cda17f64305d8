"""LIME (lime_image) over SLIC superpixels of the liver-window channel.

Why SLIC on the liver window: lime's default quickshift segments the colour image; on CT it
makes tens of superpixels on a clean slice but ~12,000 on a noisy one (STACK-FACTS), and LIME's
cost and variance grow with the number of superpixels. SLIC on the R channel (liver window,
about W160/L30) gives a bounded count (``n_segments``, roughly 50-100) whose borders follow the
liver, lesions and vessels as a radiologist would window them.

Superpixels that are "off" show a heavily blurred copy of the slice instead (the same baseline
as the insertion metric). lime's defaults are worse for CT: a constant ``hide_color`` (0 = air)
punches black holes the model never saw in training, and the per-superpixel mean
(``hide_color=None``) keeps a lesion's density and, because SLIC borders follow the lesion, its
contrast with the liver, so switching a lesion "off" barely changes it. A blurred fill removes
local contrast (lesions fade into the surrounding organ) and keeps the body's overall layout.
lime broadcasts ``hide_color`` into its fill image, so passing the blurred image there is the
public way to set it.

Reproducibility: ``seed`` seeds lime's sampler (``random_state``); SLIC is deterministic, and the
model is evaluated in fixed-size batches by a compiled function, so the same seed on the same
slice and model gives the same map.
"""
from __future__ import annotations

from typing import Any

import cv2
import numpy as np
from lime import lime_image
from skimage.segmentation import slic

from liver_model.explain.adapter import ModelAdapter
from liver_model.explain.base import Progress

SLIC_COMPACTNESS = 0.2
"""On a 0..1 grey image: near the requested segment count, still bending to intensity edges."""
LIVER_WINDOW_CHANNEL = 0
FILL_BLUR_SIGMA = 0.08
"""Gaussian sigma of the fill image, as a share of the image side (as the insertion baseline)."""
_BATCH = 50
"""Perturbed images per model call (fixed, so results do not depend on timing)."""


def liver_window_segments(x: np.ndarray, n_segments: int) -> np.ndarray:
    """SLIC superpixel labels (S, S) int, 0-based, of the liver-window channel of a model input."""
    grey = np.asarray(x[..., LIVER_WINDOW_CHANNEL], np.float64) / 255.0
    return slic(grey, n_segments=int(n_segments), compactness=SLIC_COMPACTNESS,
                channel_axis=None, start_label=0)


def lime(adapter: ModelAdapter, x: np.ndarray, target: str, params: dict[str, Any],
         progress: Progress | None) -> np.ndarray:
    """LIME weight of each superpixel painted on it (S, S); signed, unnormalised.

    ``params``: ``num_samples`` (perturbed images), ``n_segments`` (SLIC target count),
    ``seed``. The actual number of superpixels is written back to ``params['segments']``.
    """
    segments = liver_window_segments(x, params["n_segments"])
    params["segments"] = int(segments.max()) + 1
    num_samples = int(params["num_samples"])
    seen = [0]

    def classifier_fn(images: np.ndarray) -> np.ndarray:
        p = adapter.predict_proba(images.astype(np.float32))
        seen[0] += len(images)
        if progress is not None:
            progress(min(1.0, seen[0] / num_samples))
        return np.stack([1.0 - p, p], axis=1)

    column = 1 if target == "tumour" else 0
    image = x.astype(np.float32)
    fill = cv2.GaussianBlur(image, (0, 0), sigmaX=FILL_BLUR_SIGMA * max(image.shape[:2]))
    explainer = lime_image.LimeImageExplainer(random_state=int(params["seed"]))
    explanation = explainer.explain_instance(
        image, classifier_fn, labels=(column,), top_labels=None,
        hide_color=fill, num_features=params["segments"], num_samples=num_samples,
        batch_size=_BATCH, segmentation_fn=lambda _image: segments,
        random_seed=int(params["seed"]))
    weights = np.zeros(params["segments"], np.float64)
    for segment, weight in explanation.local_exp[column]:
        weights[segment] = weight
    return weights[segments].astype(np.float32)
