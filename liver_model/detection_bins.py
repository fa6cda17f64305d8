"""Tumour slices a cross-validated detector found at its shipped threshold, binned by one property.

Why: a pooled AUC says how well a detector ranks, not which tumours it misses. Binning its tumour
slices by a property of the reference lesion (how much liver surrounds it, how dark it is against
that liver) shows where it fails and whom that concerns, which is what a reviewer must know before
trusting a call and what the next recipe should aim at. "Found" uses the report's own shipping rule
(Platt unit and threshold, both fitted out of fold), so a bin's rate is what the shipped model's
call would have said.
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from liver_model.cv_metrics import apply_platt


def found_at_threshold(report: Mapping[str, Any]) -> tuple[list[dict], np.ndarray]:
    """The report's tumour slices and whether its shipped rule called each one tumour."""
    return called_at_threshold(report, 1)


def called_at_threshold(report: Mapping[str, Any], y: int) -> tuple[list[dict], np.ndarray]:
    """The report's slices of class ``y`` and whether its shipped rule called each one tumour."""
    chosen = [s for s in report["slices"] if s["y"] == y]
    calibration = report["shipping_calibration"]
    p = apply_platt(np.array([s["score"] for s in chosen], float), calibration["slope"],
                    calibration["intercept"])
    return chosen, p >= calibration["threshold_p"]


def bin_found(values: np.ndarray, found: np.ndarray, patients: Sequence[str],
              bounds: Sequence[float | None], key: str) -> list[dict]:
    """Per bin [low, high) of ``values`` (the last bin includes its top; None = open end): how many
    slices, the share found, and the slices per patient. NaN values (not measurable) fall in no bin."""
    values, found = np.asarray(values, float), np.asarray(found, bool)
    patients = np.asarray(patients)
    out = []
    last = len(bounds) - 2
    for i, (low, high) in enumerate(zip(bounds[:-1], bounds[1:])):
        inside = ~np.isnan(values)
        if low is not None:
            inside &= values >= low
        if high is not None:
            inside &= (values <= high) if i == last else (values < high)
        out.append({key: [low, high], "tumour_slices": int(inside.sum()),
                    "found": None if not inside.any() else float(found[inside].mean()),
                    "patients": dict(Counter(patients[inside].tolist()).most_common())})
    return out


def flagged_normals(report: Mapping[str, Any]) -> list[dict]:
    """Per patient with tumour-free slices: how many of them the shipped rule calls tumour.

    Why: a false positive rate pooled over 28 patients hides that a few patients hold most of it
    (a mass next to the liver that the model's own liver map takes in, for one); sorted by the
    count flagged, most first, so a reviewer sees whose slices to look at. Empty for a report
    without per-slice scores or a shipping rule (nothing to count).
    """
    if not report.get("slices") or not report.get("shipping_calibration"):
        return []
    normal, flagged = called_at_threshold(report, 0)
    patients = np.array([s["patient_id"] for s in normal])
    rows = [{"patient_id": str(patient), "normal_slices": int((patients == patient).sum()),
             "flagged": int(flagged[patients == patient].sum())} for patient in np.unique(patients)]
    rows = [{**r, "share_flagged": r["flagged"] / r["normal_slices"]} for r in rows]
    return sorted(rows, key=lambda r: (-r["flagged"], r["patient_id"]))
