"""``explain()``: the one entry point from (model, slice, method) to an :class:`Explanation`.

Every method is a function ``(adapter, x, target, params, progress) -> raw (S, S) map`` at the
model's input resolution; this module does what they share: resolve the model and its target
layer, prepare the slice exactly as the model was trained (``preprocessing.prepare``), choose the
target class, time the call, normalise, flag blank maps and map the result back onto the slice.
"""
from __future__ import annotations

import time
from typing import Any, Callable, Union

import keras
import numpy as np

from liver_model.errors import ExplanationError
from liver_model.explain import cam, lime_explainer, saliency, shap_explainer
from liver_model.explain.adapter import ModelAdapter, adapter_for
from liver_model.explain.base import METHODS, TARGETS, Explanation, Progress, is_blank, normalise_map
from liver_model.preprocessing import PreparedSlice, prepare
from liver_model.slices import CTSlice
from liver_model.zoo import LoadedModel

MethodFn = Callable[[ModelAdapter, np.ndarray, str, dict[str, Any], Union[Progress, None]],
                    np.ndarray]

IMPLEMENTATIONS: dict[str, MethodFn] = {
    "gradcam": cam.gradcam,
    "gradcam++": cam.gradcam_plus_plus,
    "scorecam": cam.scorecam,
    "saliency": saliency.saliency,
    "smoothgrad": saliency.smoothgrad,
    "lime": lime_explainer.lime,
    "shap": shap_explainer.shap_partition,
}

ModelLike = Union[LoadedModel, keras.Model]
SliceInput = Union[CTSlice, PreparedSlice]


def model_adapter(model: ModelLike) -> ModelAdapter:
    """Adapter of a shipped model (its card's CAM layer) or of a bare keras model (last 4-D layer)."""
    if isinstance(model, LoadedModel):
        return adapter_for(model.keras_model, model.card.cam_layer)
    return adapter_for(model)


def _threshold(model: ModelLike) -> float:
    """Decision threshold: the card's (chosen on validation patients), else 0.5."""
    return float(model.card.threshold) if isinstance(model, LoadedModel) else 0.5


def as_prepared(ct: SliceInput, model: ModelLike) -> PreparedSlice:
    """The slice as ``model`` sees it; a PreparedSlice of another size is an error, not resized.

    A shipped model prepares through :meth:`LoadedModel.prepare` (its own view: body crop, or the
    located liver box); a bare Keras model gets the body crop.
    """
    size = model_adapter(model).input_size
    if isinstance(ct, PreparedSlice):
        if ct.size != size:
            raise ExplanationError(f"This slice was prepared at {ct.size} px but the model "
                                   f"takes {size} px.")
        return ct
    return model.prepare(ct) if isinstance(model, LoadedModel) else prepare(ct, size)


def slice_heatmap(prepared: PreparedSlice, model_map: np.ndarray) -> np.ndarray:
    """A model-resolution map in [0, 1] on the full slice: float32 (H, W), 0 outside the crop.

    Public so a cache can keep only the small ``model_input_heatmap`` (64 KB at 128 px instead of
    1 MB for a 512 x 512 slice) and rebuild the full map with this on every read.
    """
    return np.clip(prepared.to_slice(model_map), 0.0, 1.0).astype(np.float32)


def explain(model: ModelLike, ct: SliceInput, method: str, *, target: str = "tumour",
            progress: Progress | None = None, preset: str | None = None,
            p_tumour: float | None = None, **params: Any) -> Explanation:
    """Explain ``model``'s output on ``ct`` with ``method`` (a key of :data:`METHODS`).

    ``target``: "tumour", "normal" or "predicted" (the class the model predicts at its card's
    threshold). ``preset``: "fast" (default) or "thorough"; keyword ``params`` override it.
    ``progress`` gets the fraction done (slow methods report several times, all report 1.0).
    ``p_tumour``: the model's probability for this slice when the caller has it already (the app
    caches it); saves a forward pass, about a tenth of an upload's CPU. Otherwise a shipped
    model's :meth:`LoadedModel.predict_proba` gives it (test-time flips included).
    """
    if method not in METHODS:
        raise ExplanationError(f"Unknown explanation method '{method}'. "
                               f"Available: {', '.join(METHODS)}.")
    if target not in TARGETS:
        raise ExplanationError(f"Unknown target '{target}'; use one of {', '.join(TARGETS)}.")
    spec = METHODS[method]
    run_params = spec.params_for(preset, params)
    adapter = model_adapter(model)
    if spec.needs_conv_layer and adapter.cam_layer is None:
        raise ExplanationError(f"{spec.label} needs a spatial layer, and this model has none.")
    prepared = as_prepared(ct, model)
    x = prepared.tensor

    start = time.perf_counter()
    if p_tumour is None:
        # A shipped model's own p (with its test-time flips, as the app shows it), so the target
        # class and the probability printed beside the map are the call the reader sees; the map
        # itself explains the single pass on the slice as shown.
        p_tumour = float((model.predict_proba if isinstance(model, LoadedModel)
                          else adapter.predict_proba)(x[None])[0])
    if target == "predicted":
        target = "tumour" if p_tumour >= _threshold(model) else "normal"
    raw = IMPLEMENTATIONS[method](adapter, x, target, run_params, progress)
    runtime = time.perf_counter() - start
    if progress is not None:
        progress(1.0)

    if raw.shape != x.shape[:2] or not np.isfinite(raw).all():
        raise ExplanationError(f"{spec.label} produced an invalid map {raw.shape} for this model.")
    model_map = normalise_map(raw, signed=spec.signed)
    return Explanation(
        heatmap=slice_heatmap(prepared, model_map),
        model_input_heatmap=model_map,
        target_class=target,
        probability=p_tumour if target == "tumour" else 1.0 - p_tumour,
        method=method,
        params=run_params,
        runtime_s=runtime,
        is_blank=is_blank(model_map),
    )
