"""The spread of a detector's flipped copies: banded out of fold, read back by the app, and on
the example CT from another scanner larger than on any labelled patient."""
from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import numpy as np
import pytest

from liver_model.flip_agreement import (OUT_OF_FOLD_FILE, SpreadBand, combined_orientation_note,
                                        orientation_note, per_flip_probabilities, read_out_of_fold,
                                        series_spread_note, spread, spread_bands)
from liver_model.flip_averaging import flips_for
from liver_model.zoo import LIVER_MAP_LAYER, TUMOUR_MAP_LAYER, load_model

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
    text, warn = orientation_note((0.52, 0.91, 0.92, 0.56), measured)
    assert warn and "spread 0.3 or more" in text and "do not rely on it" in text
    text, warn = orientation_note((0.90, 0.92, 0.91, 0.93), measured)
    assert not warn and f"spread 0.0-0.1, this call was right {measured.bands[0].accuracy:.0%}" in text
    assert orientation_note((0.1, 0.6, 0.2, 0.2), None) == (
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
    # The app's one compiled call gives the same copies, the same averaged p and the same maps
    # from one set of passes as the three separate calls did.
    both = model.predict(x)
    assert both.copies[0] == pytest.approx(copies, abs=1e-5)
    assert both.p[0] == pytest.approx(float(model.predict_proba(x)[0]), abs=1e-6)
    assert set(both.maps) == {LIVER_MAP_LAYER, TUMOUR_MAP_LAYER}
    for name, grid in model.predict_maps(x).items():
        assert both.maps[name] == pytest.approx(grid, abs=1e-6)
    label_only = load_model("vit")
    plain = label_only.predict(label_only.prepare(ct).tensor)
    assert plain.maps == {} and plain.copies[:, 0] == pytest.approx(plain.p)


def test_the_example_ct_series_note_follows_its_measured_spread() -> None:
    """The example series from another scanner, read by the script: Volume warns exactly when its
    copies' median spread lies above every labelled patient's out-of-fold median (the 192 px model
    shipped before: 0.36, so it warned; the 256 px one agrees with itself there), and a series
    that spreads like no labelled patient is always called outside validated ground."""
    import flip_agreement

    result = flip_agreement.agreement(MODEL, EXAMPLE)
    assert len(result["slices"]) == len(EXAMPLE) == 20
    measured = read_out_of_fold(MODEL)
    assert result["labelled_patients_median_spread_max"] == pytest.approx(measured.patient_median_spread_max)
    spreads = np.array([row["spread"] for row in result["slices"]])
    assert result["median_spread"] == pytest.approx(float(np.median(spreads)))
    text, warn = series_spread_note(MODEL, spreads, measured)
    assert warn == (result["median_spread"] > measured.patient_median_spread_max)
    assert warn == ("outside what the model was validated on" in text)
    assert f"on {int((spreads >= 0.3).sum())} of 20 slices" in text
    text, warn = series_spread_note(MODEL, np.full(20, 0.5), measured)
    assert warn and "outside what the model was validated on" in text and "on 20 of 20 slices" in text
    text, warn = series_spread_note(MODEL, np.full(20, 0.02), measured)
    assert not warn and "on 0 of 20 slices" in text


def test_a_combined_call_carries_its_flipped_members_doubt() -> None:
    """Only a member in the measured warning band makes the combined call warn, and the warning
    names that member's measured accuracy and the other member to check."""
    measured = {MODEL: read_out_of_fold(MODEL), "liver_view": None}
    members = (MODEL, "liver_view")
    text, warn = combined_orientation_note(members, {MODEL: (0.52, 0.91, 0.92, 0.56)}, measured)
    assert warn and f"member {MODEL}'s flipped copies disagree" in text and "without liver_view's" in text
    assert f"right {measured[MODEL].bands[-1].accuracy:.0%}" in text
    assert combined_orientation_note(members, {MODEL: (0.50, 0.55, 0.52, 0.58)}, measured) is None
    assert combined_orientation_note(members, {}, measured) is None
    # Where the combined call's own calls were banded by the member's spread, that is what it says.
    own = [SpreadBand(0.0, 0.1, 10, 0.9, None), SpreadBand(0.1, 0.3, 5, 0.8, None),
           SpreadBand(0.3, 1.0, 4, 0.75, None)]
    with_own = {MODEL: dataclasses.replace(measured[MODEL], combined={"pair": own}), "liver_view": None}
    text, warn = combined_orientation_note(members, {MODEL: (0.52, 0.91, 0.92, 0.56)}, with_own, "pair")
    assert warn and "the combined call itself was right 75% of the time (4 slices" in text
    text, _ = combined_orientation_note(members, {MODEL: (0.52, 0.91, 0.92, 0.56)}, with_own, "other")
    assert "itself" not in text


def test_the_combined_call_is_banded_by_its_members_spread() -> None:
    """scripts/flip_agreement_out_of_fold.py: the combined call's own calls (its calibration and
    threshold) per band of the member's spread, slices matched by dataset and path."""
    import flip_agreement_out_of_fold as oof

    keys = [("d", "a"), ("d", "b"), ("d", "c"), ("e", "a")]
    report = {"shipping_calibration": {"slope": 1.0, "intercept": 0.0, "threshold_p": 0.5},
              "slices": [{"dataset": d, "path": p, "score": s}
                         for (d, p), s in zip(reversed(keys), (0.9, 0.2, 0.8, 0.1))]}
    y = np.array([0, 1, 1, 1])  # in the order of keys: scores 0.1, 0.8, 0.2 (a miss), 0.9
    agree, _, disagree = oof.combined_bands(report, keys, y, np.array([0.0, 0.05, 0.5, 0.6]))
    assert (agree.n, agree.accuracy) == (2, 1.0) and (disagree.n, disagree.accuracy) == (2, 0.5)
    with pytest.raises(ValueError, match="other slices"):
        oof.combined_bands(report, keys[:3], y[:3], np.zeros(3))
