"""Where a cross-validated detector fails, as sentences a reader can weigh one call against.

Why: Diagnose shows each call and what its threshold means on average ("finds 65 % of tumour
slices"), but an average hides the cases where it does not hold: faint lesions, small ones,
tumours lying outside the liver outline, and patients whose tumour-free slices it keeps flagging.
Every sentence here comes from the model's CV report (its breakdowns, written by
``scripts/detection_by_*.py --update``, and its out-of-fold per-slice scores), so it is measured on
patients the model never saw; a report without a breakdown simply yields fewer sentences.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from liver_model.detection_bins import flagged_normals

FALSE_ALARM_SHARE = 0.2
"""A patient holding at least this share of a model's false alarms is named."""
SMALL_LESIONS = "0-100 px"
"""The smallest lesion-size bucket of the reports (pixels of the 512 px slice)."""


def weak_spots(report: Mapping[str, Any]) -> list[str]:
    """Up to four measured sentences on where ``report``'s model misses tumours or raises alarms."""
    return [s for s in (_faint(report), _outside_liver(report), _small(report),
                        _false_alarms(report)) if s]


def _bins(report: Mapping[str, Any], key: str) -> list[dict]:
    return [b for b in (report.get(key) or {}).get("bins") or [] if b.get("found") is not None]


def _faint(report: Mapping[str, Any]) -> str:
    bins = _bins(report, "detection_by_lesion_contrast")
    if len(bins) < 2:
        return ""
    low, high = bins[0], bins[-1]
    return (f"Faint lesions: it finds {low['found']:.0%} of the {low['tumour_slices']} tumour "
            f"slices whose lesion is under {low['contrast_hu'][1]:g} HU darker than the liver "
            f"around it, against {high['found']:.0%} of those {high['contrast_hu'][0]:g} HU or "
            "darker.")


def _outside_liver(report: Mapping[str, Any]) -> str:
    bins = _bins(report, "detection_by_liver_share")
    if not bins or bins[0]["liver_share"][0] != 0.0:
        return ""
    low = bins[0]
    patients = ", ".join(low["patients"])
    return (f"Tumour outside the liver: where liver is under {low['liver_share'][1]:.0%} of the "
            f"liver and tumour on the slice, it finds {low['found']:.0%} of "
            f"{low['tumour_slices']} tumour slices ({patients}): it looks for tumour inside its "
            "own liver outline.")


def _small(report: Mapping[str, Any]) -> str:
    bucket = (((report.get("segmentation") or {}).get("lesion_detection") or {})
              .get("pixels") or {}).get(SMALL_LESIONS)
    if not bucket or not bucket.get("lesions") or bucket.get("rate") is None:
        return ""
    return (f"Small lesions: its outline finds {bucket['rate']:.0%} of the {bucket['lesions']} "
            "lesions under 100 pixels of a 512 px slice (about 10 mm).")


def _false_alarms(report: Mapping[str, Any]) -> str:
    rows = flagged_normals(report)
    total = sum(r["flagged"] for r in rows)
    if not total or rows[0]["flagged"] < FALSE_ALARM_SHARE * total:
        return ""
    top = rows[0]
    return (f"False alarms: {top['flagged']} of its {total} tumour calls on tumour-free slices "
            f"fall on one patient ({top['patient_id']}, {top['flagged']} of "
            f"{top['normal_slices']} slices): one unusual anatomy can draw many.")
