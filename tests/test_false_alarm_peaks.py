"""Telling a false alarm of the tumour map from one of the liver map."""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts"))

from false_alarm_peaks import tumour_peak  # noqa: E402


def test_peak_outside_the_reference_liver_in_tissue_the_model_took_for_liver() -> None:
    """A neighbouring mass (right of the liver) that the liver map takes in, as on lits-034."""
    reference = np.zeros((192, 192), bool)
    reference[40:120, 20:100] = True           # the reference liver, at model resolution
    liver = np.zeros((96, 96), np.float32)
    liver[20:60, 10:70] = 1.0                  # predicted liver reaches 20 cells past it
    tumour = np.zeros((96, 96), np.float32)
    tumour[40, 65] = 0.97
    peak = tumour_peak(tumour, liver, reference)
    assert not peak.inside_reference_liver and peak.cells_from_reference_liver == 16.0
    assert peak.tumour_p == np.float32(0.97) and peak.predicted_liver_p == 1.0
    inside = tumour_peak(np.pad(np.ones((1, 1), np.float32), ((30, 65), (30, 65))), liver, reference)
    assert inside.inside_reference_liver and inside.cells_from_reference_liver == 0.0


def test_no_reference_liver_means_no_distance() -> None:
    peak = tumour_peak(np.eye(96, dtype=np.float32), np.zeros((96, 96), np.float32),
                       np.zeros((192, 192), bool))
    assert not peak.inside_reference_liver and np.isinf(peak.cells_from_reference_liver)
