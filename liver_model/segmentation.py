"""A model's own liver and tumour maps on the slice: what the segmentation-backed models saw.

Why its own module: the dashboard (outlines on Diagnose, Compare and Teaching), the lesion
measurements of the case report and the explanation checks all need the same thing, a model's
per-pixel probabilities mapped back from the model frame onto the full slice through the same
crop that :func:`liver_model.preprocessing.prepare` used. Models without maps (label-only
classifiers) return ``None``: there is nothing to outline, and callers must say so rather than
show an empty contour.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from liver_model.preprocessing import PreparedSlice
from liver_model.zoo import LoadedModel, Prediction

#: Probability above which a pixel is drawn / measured as liver or tumour.
MASK_THRESHOLD = 0.5

_LIVER_LAYER = "seg_liver_logits"
_TUMOUR_LAYERS = ("seg_tumour_logits", "tumour_logit_map")


@dataclass(frozen=True)
class SegmentationMaps:
    """One model's maps of one slice, float32 (H, W) probabilities at the slice's resolution."""

    model_id: str
    tumour: np.ndarray
    liver: np.ndarray | None
    """None for models that predict no liver (the map-head classifiers)."""
    map_side: int
    """Side of the model's own map grid (e.g. 96 for a 192 px U-Net): its resolution limit."""

    def tumour_mask(self, threshold: float = MASK_THRESHOLD) -> np.ndarray:
        """Boolean (H, W) tumour mask; inside the predicted liver when the model has one."""
        mask = self.tumour >= threshold
        if self.liver is not None:
            # The model's slice score gates the tumour by its dilated liver; do the same here.
            liver = cv2.dilate(self.liver_mask().astype(np.uint8), np.ones((15, 15), np.uint8))
            mask &= liver.astype(bool)
        return mask

    def liver_mask(self, threshold: float = MASK_THRESHOLD) -> np.ndarray | None:
        """Boolean (H, W) liver-organ mask (liver plus tumour), or None without a liver map."""
        return None if self.liver is None else self.liver >= threshold


def slice_maps(model: LoadedModel, prepared: PreparedSlice) -> SegmentationMaps | None:
    """``model``'s maps of ``prepared`` on the full slice, or None if it predicts no map.

    ``prepared`` must come from ``model.prepare(slice)`` (the model's own view of the slice).
    """
    if not model.has_maps:
        return None
    return maps_from_prediction(model, prepared, model.predict(prepared.tensor))


def maps_from_prediction(model: LoadedModel, prepared: PreparedSlice,
                         prediction: Prediction) -> SegmentationMaps | None:
    """:func:`slice_maps` from a :class:`Prediction` the caller already has of ``prepared``."""
    if not prediction.maps:
        return None
    if prepared.size != model.input_size:
        raise ValueError(f"{model.model_id} takes {model.input_size} px inputs, got {prepared.size}")
    maps = prediction.maps
    tumour_key = next(k for k in _TUMOUR_LAYERS if k in maps)
    liver = maps.get(_LIVER_LAYER)
    return maps_on_slice(model.model_id, prepared, maps[tumour_key][0],
                         None if liver is None else liver[0])


def maps_on_slice(model_id: str, prepared: PreparedSlice, tumour: np.ndarray,
                  liver: np.ndarray | None) -> SegmentationMaps:
    """Model-grid probability maps (m, m) -> :class:`SegmentationMaps` on ``prepared``'s slice."""
    def on_slice(small: np.ndarray) -> np.ndarray:
        full = cv2.resize(small.astype(np.float32), (prepared.size, prepared.size),
                          interpolation=cv2.INTER_LINEAR)
        return prepared.to_slice(full)

    return SegmentationMaps(model_id=model_id, tumour=on_slice(tumour),
                            liver=None if liver is None else on_slice(liver),
                            map_side=int(tumour.shape[0]))
