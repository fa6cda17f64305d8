"""scripts/slice_score_study.py: its baseline rule is the shipped score layer, and it reads a cv
work dir back in the report's slice order."""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "scripts"))

import slice_score_study as study  # noqa: E402


def _logit(p: np.ndarray) -> np.ndarray:
    return np.log(p / (1 - p))


def test_the_studys_shipped_rule_is_the_models_score_layer_away_from_the_border() -> None:
    """The comparison is only fair if the baseline rule recomputed from stored maps is what the
    model's LiverGatedMaxScore layer gives (padding may differ at the map border only)."""
    from liver_model.architectures.unet import LiverGatedMaxScore

    rng = np.random.default_rng(0)
    liver = np.zeros((2, 48, 48), np.float32)
    liver[:, 10:38, 8:30] = 0.95
    tumour = rng.uniform(0.0, 0.2, (2, 48, 48)).astype(np.float32)
    tumour[0, 20:23, 15:18] = 0.9  # a lesion inside the liver
    tumour[1, 20:23, 40:43] = 0.9  # the same lesion outside the (dilated) liver
    layer = LiverGatedMaxScore()
    expected = layer(_logit(np.clip(liver, 1e-4, 1 - 1e-4))[..., None],
                     _logit(tumour)[..., None]).numpy()[:, 0]
    got = np.array([study.shipped_max(np.clip(l, 1e-4, 1 - 1e-4), t) for l, t in zip(liver, tumour)])
    assert got == pytest.approx(expected, abs=1e-3)
    assert got[0] > 0.8 > 0.3 > got[1]


def test_maps_are_read_back_in_report_order_and_missing_folds_are_refused(tmp_path: Path) -> None:
    liver = np.arange(4 * 3 * 3, dtype=np.float16).reshape(4, 3, 3)
    np.savez(tmp_path / "fold0.npz", index=np.array([3, 1]), score=np.array([0.3, 0.1]),
             liver=liver[[3, 1]], tumour=liver[[3, 1]])
    with pytest.raises(SystemExit, match="2 slices unscored"):
        study.load_maps(tmp_path, 4)
    np.savez(tmp_path / "fold1.npz", index=np.array([0, 2]), score=np.array([0.0, 0.2]),
             liver=liver[[0, 2]], tumour=liver[[0, 2]])
    score, got_liver, _ = study.load_maps(tmp_path, 4)
    assert list(score) == [0.0, 0.1, 0.2, 0.3]
    assert np.array_equal(got_liver, liver.astype(np.float32))


def test_the_logistic_combination_is_fitted_without_the_fold_it_scores() -> None:
    rng = np.random.default_rng(1)
    y = np.tile([0, 1], 50)
    folds = np.repeat([0, 1], 50)
    features = np.column_stack([y + rng.normal(0, 0.3, 100), rng.normal(0, 1, 100)])
    features[folds == 1, 0] = -features[folds == 1, 0]  # fold 1 reverses the evidence
    scores = study.cross_fitted_logistic(features, y, folds)
    # Fitted on fold 0 only, fold 1 is scored backwards: no leak of fold 1's labels into its scores.
    assert np.mean(scores[folds == 1][y[folds == 1] == 1]) < np.mean(scores[folds == 1][y[folds == 1] == 0])
