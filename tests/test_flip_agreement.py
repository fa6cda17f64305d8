"""The spread of a detector's flipped copies: banded out of fold, read back by the app, and on
the example CT from another scanner larger than on any labelled patient."""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from dashboard.summaries import orientation_sentence
from liver_model.flip_agreement import (OUT_OF_FOLD_FILE, SpreadBand, per_flip_probabilities,
                                        read_out_of_fold, spread, spread_bands)
from liver_model.flip_averaging import flips_for
from liver_model.zoo import load_model

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "scripts"))
MODEL = "efficientnet_lite0_unet"
EXAMPLE = sorted((REPO / "assets" / "examples" / "totalsegmentator_ct").glob("*.dcm"))


def test_bands_count_the_calls_right_within_each_spread() -> None:
    y = np.array([1, 0, 1, 0, 1, 0])
    p = np.array([0.9, 0.1, 0.2, 0.8, 0.9, 0.6])
    spreads = np.array([0.05, 0.02, 0.2, 0.25, 1.0, 0.5])
    agree, differ, disagree = spread_bands(y, p, 0.5, spreads)
    assert (agree.n, agree.accuracy, agree.roc_auc) == (2, 1.0, 1.0)
    assert (differ.n, differ.accuracy) == (2, 0.0)  # both calls wrong
    assert (disagree.n, disagree.accuracy) == (2, 0.5) and disagree.holds(1.0)  # a spread of 1 counts
    assert spread(np.array([[0.2, 0.9, 0.5, 0.4]]))[0] == pytest.approx(0.7)


def test_the_shipped_measurement_is_read_for_its_model_only() -> None:
    measured = read_out_of_fold(MODEL)
    assert measured is not None and read_out_of_fold("vit") is None
    assert sum(b.n for b in measured.bands) == 1182
    # The measured meaning: agreeing copies are trustworthy, disagreeing ones a coin flip.
    assert measured.bands[0].accuracy > 0.8 > 0.65 > measured.bands[-1].accuracy
    text, warn = orientation_sentence((0.52, 0.91, 0.92, 0.56), measured)
    assert warn and "spread 0.3 or more" in text and "do not rely on it" in text
    text, warn = orientation_sentence((0.90, 0.92, 0.91, 0.93), measured)
    assert not warn and "spread 0.0-0.1, this call was right 88%" in text
    assert orientation_sentence((0.1, 0.6, 0.2, 0.2), None) == (
        "Flipped copies: as is 0.10, left-right 0.60, up-down 0.20, both 0.20 (spread 0.50).", False)
    assert isinstance(measured.band_of(0.2), SpreadBand) and measured.band_of(0.2).low == 0.1
    assert OUT_OF_FOLD_FILE.is_file()


def test_each_copy_is_one_pass_of_the_flipped_slice() -> None:
    """Column k is the model's own single-pass output on the k-th flip of the slice."""
    from liver_model.io.loader import read_dicom_series

    model = load_model(MODEL)
    ct = read_dicom_series([EXAMPLE[10].read_bytes()])[0]
    x = model.prepare(ct).tensor[None]
    copies = per_flip_probabilities(model.keras_model, x)[0]
    for k, axes in enumerate(flips_for(4)):
        single = float(model.keras_model(np.ascontiguousarray(np.flip(x, axes)), training=False)[0, 0])
        assert copies[k] == pytest.approx(single, abs=1e-5)


def test_the_example_ct_spreads_more_than_any_labelled_patient() -> None:
    """The example series from another scanner: its copies' median spread lies above every
    labelled patient's out-of-fold median, the sign that the call leaves validated ground."""
    import flip_agreement

    result = flip_agreement.agreement(MODEL, EXAMPLE)
    assert len(result["slices"]) == len(EXAMPLE) == 20
    assert result["median_spread"] > result["labelled_patients_median_spread_max"]
    assert result["called_tumour_shipped"] >= result["called_tumour_as_is"]
