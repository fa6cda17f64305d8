"""How well a predicted liver / tumour map matches the reference mask: Dice and lesion detection.

Why lesion-level numbers as well as Dice: a slice-level AUC can be high while small lesions are
missed entirely, and a Dice over a slice is dominated by its largest lesion. Users need to see
where the models fail, so every connected tumour region of the reference mask is a lesion, and
detection is reported by lesion size: in pixels of the original slice always, and as the
equivalent diameter in mm where the pixel spacing is known (DICOM, NIfTI).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

#: Lesion size buckets in pixels of the original (512 px) slice.
PIXEL_BUCKETS = ((0, 100), (100, 500), (500, 2000), (2000, None))
#: Lesion size buckets by equivalent diameter in mm (a 10 mm lesion is the usual "small").
MM_BUCKETS = ((0.0, 10.0), (10.0, 20.0), (20.0, 50.0), (50.0, None))


def dice(predicted: np.ndarray, reference: np.ndarray) -> float | None:
    """Dice of two boolean masks; None when both are empty (nothing to agree on)."""
    predicted, reference = np.asarray(predicted, bool), np.asarray(reference, bool)
    total = int(predicted.sum()) + int(reference.sum())
    if total == 0:
        return None
    return 2.0 * int((predicted & reference).sum()) / total


@dataclass(frozen=True)
class LesionHit:
    """One reference lesion and whether the predicted tumour mask touched it."""

    pixels: int
    diameter_mm: float | None
    """Diameter of the circle with the lesion's area; None without pixel spacing."""
    detected: bool


def lesion_hits(predicted: np.ndarray, reference_tumour: np.ndarray,
                spacing_mm: tuple[float, float] | None = None) -> list[LesionHit]:
    """Every connected reference lesion (8-connectivity), detected if any predicted pixel overlaps it."""
    labels, count = ndimage.label(np.asarray(reference_tumour, bool), structure=np.ones((3, 3)))
    predicted = np.asarray(predicted, bool)
    hits = []
    for region in range(1, count + 1):
        lesion = labels == region
        pixels = int(lesion.sum())
        diameter = None
        if spacing_mm is not None:
            diameter = float(2.0 * np.sqrt(pixels * spacing_mm[0] * spacing_mm[1] / np.pi))
        hits.append(LesionHit(pixels, diameter, bool((predicted & lesion).any())))
    return hits


def _bucket_name(low: float, high: float | None, unit: str) -> str:
    return f"{low:g}-{high:g} {unit}" if high is not None else f">= {low:g} {unit}"


def detection_by_size(hits: list[LesionHit]) -> dict[str, dict[str, object]]:
    """Detection rate per pixel bucket, and per mm bucket for lesions with known spacing."""
    out: dict[str, dict[str, object]] = {"pixels": {}, "mm": {}}
    for low, high in PIXEL_BUCKETS:
        members = [h for h in hits if h.pixels >= low and (high is None or h.pixels < high)]
        out["pixels"][_bucket_name(low, high, "px")] = _rate(members)
    with_mm = [h for h in hits if h.diameter_mm is not None]
    for low, high in MM_BUCKETS:
        members = [h for h in with_mm if h.diameter_mm >= low and (high is None or h.diameter_mm < high)]
        out["mm"][_bucket_name(low, high, "mm")] = _rate(members)
    if not with_mm:
        out["mm_note"] = {"reason": "no lesion with known pixel spacing (the LiTS JPEGs have none)"}
    return out


def _rate(members: list[LesionHit]) -> dict[str, object]:
    detected = sum(h.detected for h in members)
    return {"lesions": len(members), "detected": detected,
            "rate": detected / len(members) if members else None}
