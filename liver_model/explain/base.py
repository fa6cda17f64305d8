"""The explanation result type and the per-method metadata the UI reads.

Why a metadata registry: the dashboard must grey out invalid model x method combinations and
warn before slow ones without hard-coding special cases (the Quantus pattern in STYLE.md). Every
method declares here whether it is model-agnostic, needs a spatial (conv or token-grid) layer,
works for the ViT, what it costs relative to Grad-CAM, and its fast / thorough presets.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from liver_model.errors import ExplanationError

Progress = Callable[[float], None]
"""Called with the fraction done (0..1) so the UI can draw a progress bar."""

TARGETS = ("tumour", "normal", "predicted")
"""``predicted`` explains whichever class the model predicts at its threshold."""

BLANK_STD = 0.01
"""A normalised map whose standard deviation is below this is near-constant: nothing to show."""


@dataclass(frozen=True)
class MethodSpec:
    """What the UI and the evaluation runner need to know about one explanation method."""

    name: str
    label: str
    model_agnostic: bool
    needs_conv_layer: bool
    works_for_vit: bool
    relative_cost: float
    """Rough runtime relative to Grad-CAM (= 1) at the fast preset, measured on a 2-core CPU."""
    signed: bool
    """True when the raw attribution has a sign; the heatmap then keeps the evidence FOR the
    target class only (negative evidence is clipped to 0)."""
    presets: dict[str, dict[str, Any]]
    description: str

    def params_for(self, preset: str | None, overrides: dict[str, Any]) -> dict[str, Any]:
        """Preset parameters updated with explicit ones; unknown names are an error, not ignored."""
        name = preset or "fast"
        if name not in self.presets:
            raise ExplanationError(f"{self.label} has no preset '{name}'; "
                                   f"choose one of {', '.join(self.presets)}.")
        params = dict(self.presets[name])
        unknown = set(overrides) - set(params)
        if unknown:
            raise ExplanationError(f"{self.label} does not take parameter(s) "
                                   f"{', '.join(sorted(unknown))}; it takes "
                                   f"{', '.join(sorted(params)) or 'none'}.")
        params.update(overrides)
        params["preset"] = name
        return params


METHODS: dict[str, MethodSpec] = {
    "gradcam": MethodSpec(
        "gradcam", "Grad-CAM", model_agnostic=False, needs_conv_layer=True, works_for_vit=True,
        relative_cost=1.0, signed=False,
        presets={"fast": {}, "thorough": {}},
        description="Gradient-weighted activations of the last spatial layer (conv feature map, "
                    "or the ViT's patch-token grid). Coarse (layer resolution), fast."),
    "gradcam++": MethodSpec(
        "gradcam++", "Grad-CAM++", model_agnostic=False, needs_conv_layer=True, works_for_vit=True,
        relative_cost=3.0, signed=False,
        presets={"fast": {}, "thorough": {}},
        description="Grad-CAM with higher-order pixel-wise weights; better with several "
                    "lesions in one slice (tf-keras-vis)."),
    "scorecam": MethodSpec(
        "scorecam", "Score-CAM", model_agnostic=False, needs_conv_layer=True, works_for_vit=True,
        relative_cost=20.0, signed=False,
        presets={"fast": {"max_n": 32}, "thorough": {"max_n": 128}},
        description="Gradient-free: each feature map masks the input and is weighted by the "
                    "probability it yields (tf-keras-vis; Faster Score-CAM keeps the max_n maps "
                    "with the largest variance)."),
    "saliency": MethodSpec(
        "saliency", "Saliency", model_agnostic=False, needs_conv_layer=False, works_for_vit=True,
        relative_cost=1.0, signed=False,
        presets={"fast": {}, "thorough": {}},
        description="Absolute input gradient (max over the three windows). Pixel-sharp but noisy."),
    "smoothgrad": MethodSpec(
        "smoothgrad", "SmoothGrad", model_agnostic=False, needs_conv_layer=False, works_for_vit=True,
        relative_cost=5.0, signed=False,
        presets={"fast": {"samples": 16, "noise": 0.15, "seed": 0},
                 "thorough": {"samples": 64, "noise": 0.15, "seed": 0}},
        description="Saliency averaged over noisy copies of the slice; less speckle."),
    "lime": MethodSpec(
        "lime", "LIME", model_agnostic=True, needs_conv_layer=False, works_for_vit=True,
        relative_cost=40.0, signed=True,
        presets={"fast": {"num_samples": 300, "n_segments": 60, "seed": 0},
                 "thorough": {"num_samples": 1000, "n_segments": 100, "seed": 0}},
        description="Local linear surrogate over SLIC superpixels of the liver window; "
                    "superpixels are switched off (replaced by a blurred slice) at random."),
    "shap": MethodSpec(
        "shap", "SHAP", model_agnostic=True, needs_conv_layer=False, works_for_vit=True,
        relative_cost=40.0, signed=True,
        presets={"fast": {"max_evals": 300, "masker": "blur(16,16)", "seed": 0},
                 "thorough": {"max_evals": 1000, "masker": "blur(16,16)", "seed": 0}},
        description="Partition SHAP (Owen values) over a hierarchy of image blocks; hidden "
                    "blocks are blurred."),
}


@dataclass
class Explanation:
    """One explanation of one model's output on one slice.

    ``heatmap`` is at the slice's own resolution (zeros outside the body crop the model saw), so
    it overlays the slice the radiologist looks at; ``model_input_heatmap`` is what the method
    produced at the model's input resolution, which the quality metrics perturb.
    """

    heatmap: np.ndarray
    model_input_heatmap: np.ndarray
    target_class: str
    probability: float
    """The model's probability of ``target_class`` on this slice."""
    method: str
    params: dict[str, Any] = field(default_factory=dict)
    runtime_s: float = 0.0
    is_blank: bool = False


def normalise_map(raw: np.ndarray, *, signed: bool = False) -> np.ndarray:
    """Scale a raw attribution map to float32 in [0, 1].

    Signed maps keep the positive part (evidence for the target class) and divide by its peak so
    that 0 still means "no evidence"; unsigned maps are min-max scaled. Non-finite values are an
    error upstream, so they are zeroed here rather than allowed to poison the scaling.
    """
    m = np.nan_to_num(np.asarray(raw, dtype=np.float64), nan=0.0, posinf=0.0, neginf=0.0)
    if signed:
        m = np.maximum(m, 0.0)
        peak = m.max(initial=0.0)
        return (m / peak if peak > 0 else np.zeros_like(m)).astype(np.float32)
    lo, hi = m.min(initial=0.0), m.max(initial=0.0)
    if hi - lo <= 0:
        return np.zeros_like(m, dtype=np.float32)
    return ((m - lo) / (hi - lo)).astype(np.float32)


def is_blank(heatmap: np.ndarray) -> bool:
    """True when a normalised map is (near-)constant, e.g. a CAM killed entirely by the ReLU.

    Such a map min-max-scales to noise or zeros; the UI must say "no evidence found" instead of
    drawing it as if it meant something.
    """
    h = np.asarray(heatmap, dtype=np.float64)
    return bool(h.size == 0 or not np.isfinite(h).all() or h.std() < BLANK_STD)
