"""Would a learned pooling of the maps beat the shipped fixed rule? Cross-fitted, on kept OOF maps.

Why: issue 9 allows the slice's p(tumour) to be "a learned pooling, or a calibrated function of
the map". The detectors ship the calibrated function (highest tumour probability inside the
dilated predicted liver, Platt-scaled; the combined call averages two of them). This fits, per
fold, a logistic regression on statistics of the out-of-fold maps of one or more CV work dirs
(each view's stored score, the mean of its 10 and 50 highest gated cells, its gated tumour area
and its predicted liver area, all on the map grid) on the other folds' slices, and scores the held-out
fold: the same cross-fitting as the operating point, so the comparison with the fixed rule (the
mean of the views' stored scores) is fair. The mean of the per-fold AUCs is printed beside the
pooled one: a per-fold refit shifts each fold's scale, which costs pooled AUC even where it ranks
the fold's slices the same.

Usage: ``python scripts/learned_pooling.py --report assets/metrics/cv_efficientnet_lite0_unet.json
WORK_DIR [WORK_DIR ...]`` (every work dir on the report's folds; seconds).
"""
from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from liver_model.architectures.unet import LIVER_DILATION  # noqa: E402
from liver_model.cv_work_dir import out_of_fold_maps  # noqa: E402

_EPS = 1e-6
FEATURES = ("score", "top 10", "top 50", "gated area", "liver area")


def _logit(p: np.ndarray | float) -> np.ndarray:
    p = np.clip(p, _EPS, 1 - _EPS)
    return np.log(p) - np.log(1 - p)


def map_features(score: np.ndarray, liver: np.ndarray, tumour: np.ndarray) -> np.ndarray:
    """(N, 5) statistics of each slice's maps (see :data:`FEATURES`), on the scale the gate uses:
    tumour x max-pooled liver, 3x3 mean, as in the model's score layer."""
    rows = []
    kernel = np.ones((LIVER_DILATION, LIVER_DILATION), np.uint8)
    for s, l, t in zip(score, liver.astype(np.float32), tumour.astype(np.float32)):
        gated = cv2.blur(t * cv2.dilate(l, kernel), (3, 3), borderType=cv2.BORDER_CONSTANT).ravel()
        top = np.sort(gated)[::-1]
        rows.append([_logit(s), _logit(top[:10].mean()), _logit(top[:50].mean()),
                     np.log1p((gated >= 0.5).sum()), np.log1p((l >= 0.5).sum())])
    return np.asarray(rows, np.float64)


def cross_fitted(features: np.ndarray, y: np.ndarray, folds: np.ndarray) -> np.ndarray:
    """Each fold's slices scored by a logistic regression fitted on the other folds only."""
    out = np.zeros(len(y))
    for fold in np.unique(folds):
        held = folds == fold
        model = make_pipeline(StandardScaler(), LogisticRegression(C=0.3, max_iter=1000))
        out[held] = model.fit(features[~held], y[~held]).predict_proba(features[held])[:, 1]
    return out


def auc_summary(y: np.ndarray, score: np.ndarray, folds: np.ndarray) -> str:
    """Pooled ROC AUC and the mean of the per-fold ones (which no per-fold refit can shift)."""
    per_fold = [roc_auc_score(y[folds == f], score[folds == f]) for f in np.unique(folds)]
    return f"ROC AUC pooled {roc_auc_score(y, score):.3f}, mean of folds {np.mean(per_fold):.3f}"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--report", required=True, type=Path, help="any CV report on these folds")
    parser.add_argument("work_dirs", nargs="+", type=Path)
    args = parser.parse_args(argv)
    slices = json.loads(args.report.read_text())["slices"]
    y = np.array([s["y"] for s in slices])
    folds = np.array([s["fold"] for s in slices])
    views = [map_features(*out_of_fold_maps(work, len(slices))) for work in args.work_dirs]
    fixed = np.mean([1 / (1 + np.exp(-v[:, 0])) for v in views], axis=0)
    print(f"fixed rule (mean of the stored scores): {auc_summary(y, fixed, folds)}")
    for name, columns in (("stored scores only", [0]), ("+ top 10 / top 50", [0, 1, 2]),
                          ("every statistic", list(range(len(FEATURES))))):
        learned = cross_fitted(np.hstack([v[:, columns] for v in views]), y, folds)
        print(f"learned pooling, {name}: {auc_summary(y, learned, folds)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
