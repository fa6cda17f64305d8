"""scripts/learned_pooling.py: map statistics on real masks, and a cross-fitting that never sees
the fold it scores."""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts"))

from learned_pooling import FEATURES, cross_fitted, map_features  # noqa: E402
from liver_model.cv_data import load_cv_data  # noqa: E402


def test_statistics_of_reference_maps_separate_tumour_slices_and_the_fit_never_sees_its_fold(
        lits_subset) -> None:
    def pick(frame: pd.DataFrame) -> pd.DataFrame:
        liver_rows = frame[frame["liver_pixels"].astype(int) > 5000]
        return pd.concat([liver_rows[liver_rows["tumour_pixels"].astype(int) > 3000].head(12),
                          liver_rows[liver_rows["label"] == "normal"].head(12)])

    manifest = lits_subset(pick)
    data = load_cv_data([manifest], 128)
    liver, tumour = data.liver[:, ::2, ::2].astype(np.float32), data.tumour[:, ::2, ::2].astype(np.float32)
    y = data.labels
    score = np.where(y == 1, 0.9, 0.1)
    features = map_features(score, liver, tumour)
    assert features.shape == (len(y), len(FEATURES))
    gated_area = features[:, FEATURES.index("gated area")]
    assert gated_area[y == 0].max() == 0 and (gated_area[y == 1] > 0).mean() > 0.8
    folds = np.arange(len(y)) % 3
    fitted = cross_fitted(features, y, folds)
    flipped = y.copy()
    flipped[folds == 0] = 1 - flipped[folds == 0]  # fold 0's own labels must not matter to fold 0
    np.testing.assert_allclose(cross_fitted(features, flipped, folds)[folds == 0], fitted[folds == 0])
    assert fitted[y == 1].min() > fitted[y == 0].max()
