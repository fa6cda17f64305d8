"""Which slice score ranks slices best, given the same out-of-fold tumour and liver maps?

Why: a segmentation detector's call is a pooling of its maps into one number. The shipped rule
(``LiverGatedMaxScore``: the highest 3x3-averaged tumour probability inside the dilated predicted
liver) was fixed before any CV run. This script scores fixed alternative rules, and one
cross-fitted logistic combination of them, on the maps a ``cv`` run stored in its work dir
(``fold<k>.npz``), and compares each with the shipped rule by the paired patient bootstrap of
``cv-compare``. No training: every map is out of fold already.

Usage: ``python scripts/slice_score_study.py --work-dir artifacts/cv_in_syn10
--report assets/metrics/cv_efficientnet_lite0_unet_synthetic_1.json``
"""
from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
from scipy import ndimage

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from liver_model.architectures.unet import LIVER_DILATION  # noqa: E402
from liver_model.cv_compare import PairedSlices, paired_difference  # noqa: E402
from liver_model.cv_work_dir import out_of_fold_maps  # noqa: E402

Rule = Callable[[np.ndarray, np.ndarray], float]


def _gated(liver: np.ndarray, tumour: np.ndarray) -> np.ndarray:
    """Tumour probability times the dilated liver probability (the shipped layer's gate)."""
    return tumour * ndimage.maximum_filter(liver, size=LIVER_DILATION, mode="nearest")


def shipped_max(liver: np.ndarray, tumour: np.ndarray) -> float:
    return float(ndimage.uniform_filter(_gated(liver, tumour), size=3, mode="constant").max())


def top_k_mean(k: int) -> Rule:
    def rule(liver: np.ndarray, tumour: np.ndarray) -> float:
        flat = np.sort(_gated(liver, tumour).ravel())
        return float(flat[-k:].mean())
    return rule


def expected_tumour_pixels(liver: np.ndarray, tumour: np.ndarray) -> float:
    return float(_gated(liver, tumour).sum())


def ungated_max(liver: np.ndarray, tumour: np.ndarray) -> float:
    return float(ndimage.uniform_filter(tumour, size=3, mode="constant").max())


RULES: dict[str, Rule] = {
    "shipped: max of 3x3 mean inside liver": shipped_max,
    "mean of top 5 pixels inside liver": top_k_mean(5),
    "mean of top 20 pixels inside liver": top_k_mean(20),
    "expected tumour pixels inside liver": expected_tumour_pixels,
    "max of 3x3 mean, no liver gate": ungated_max,
}


def load_maps(work_dir: Path, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(stored score (n,), liver maps, tumour maps), rows in the report's slice order."""
    try:
        return out_of_fold_maps(work_dir, n)
    except ValueError as err:
        raise SystemExit(str(err)) from err


def cross_fitted_logistic(features: np.ndarray, y: np.ndarray, folds: np.ndarray) -> np.ndarray:
    """Each fold's scores from a logistic regression fitted on the other folds only."""
    from sklearn.linear_model import LogisticRegression

    out = np.zeros(len(y))
    for fold in np.unique(folds):
        test = folds == fold
        model = LogisticRegression(max_iter=1000).fit(features[~test], y[~test])
        out[test] = model.decision_function(features[test])
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--work-dir", type=Path, required=True, help="work dir of a cv run")
    parser.add_argument("--report", type=Path, required=True, help="that run's report JSON")
    parser.add_argument("--out", type=Path, default=None, help="write the comparison here (JSON)")
    args = parser.parse_args(argv)

    slices = json.loads(args.report.read_text())["slices"]
    y = np.array([s["y"] for s in slices])
    patients = np.array([s["patient_id"] for s in slices])
    folds = np.array([s["fold"] for s in slices])
    stored, liver, tumour = load_maps(args.work_dir, len(slices))
    scores = {name: np.array([rule(l, t) for l, t in zip(liver, tumour)]) for name, rule in RULES.items()}
    reproduced = np.corrcoef(scores["shipped: max of 3x3 mean inside liver"], stored)[0, 1]
    print(f"shipped rule recomputed from the stored maps: correlation {reproduced:.4f} with the model's score layer")

    def logit(p: np.ndarray) -> np.ndarray:
        p = np.clip(p, 1e-6, 1 - 1e-6)
        return np.log(p / (1 - p))

    features = np.column_stack([logit(scores["shipped: max of 3x3 mean inside liver"]),
                                np.log1p(scores["expected tumour pixels inside liver"]),
                                np.log1p(liver.sum(axis=(1, 2)))])
    scores["logistic on (max, expected tumour px, liver px), cross-fitted"] = cross_fitted_logistic(features, y, folds)

    baseline = stored
    results = {}
    for name, score in scores.items():
        diff = paired_difference(PairedSlices(y=y, patients=patients, folds=folds, score_a=baseline, score_b=score))
        results[name] = diff
        auc, sens = diff["roc_auc"], diff["sensitivity_at_specificity_0.90"]
        print(f"{name:66s} ROC AUC {auc['b']:.3f} ({auc['difference']:+.3f} [{auc['ci95_low']:+.3f}, "
              f"{auc['ci95_high']:+.3f}], P {auc['fraction_b_better']:.2f}); sens@spec0.90 {sens['b']:.3f} "
              f"({sens['difference']:+.3f})")
    if args.out is not None:
        args.out.write_text(json.dumps({"report": str(args.report), "work_dir": str(args.work_dir),
                                        "baseline": "the model's stored score", "results": results}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
