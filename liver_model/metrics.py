"""Binary classification metrics of p(tumour) against slice labels, as the dashboard shows them.

Why its own module: training (threshold on validation patients), the evaluate command and the
tests must compute exactly the same numbers. Metrics that are undefined on the given slices (ROC
AUC on a one-class set such as the IRCAD sample, specificity without negatives...) are returned as
``None`` with a reason in ``undefined``, never as a crash or a misleading 0.

Decision threshold rule (:func:`choose_threshold`): the HIGHEST threshold whose sensitivity on the
validation patients is at least ``min_sensitivity`` (0.90 by default). A missed tumour costs more
than a false alarm, so sensitivity is fixed first and, among thresholds that reach it, the one with
the best specificity is taken.
"""
from __future__ import annotations

from typing import Any

import numpy as np
from sklearn import metrics as skm

DEFAULT_MIN_SENSITIVITY = 0.90
CALIBRATION_BINS = 10


def _ratio(numerator: float, denominator: float) -> float | None:
    return float(numerator) / float(denominator) if denominator else None


def binary_metrics(y_true: np.ndarray, p_tumour: np.ndarray, threshold: float) -> dict[str, Any]:
    """Metrics of predicting tumour when ``p_tumour >= threshold``.

    Returns n, accuracy, sensitivity, specificity, precision, f1, roc_auc, pr_auc, brier,
    confusion_matrix ([[tn, fp], [fn, tp]], rows = truth), threshold, n_tumour, n_normal and
    ``undefined`` (metric -> reason) for every metric that is ``None``.
    """
    y = np.asarray(y_true, dtype=np.int64).ravel()
    p = np.asarray(p_tumour, dtype=np.float64).ravel()
    if y.shape != p.shape:
        raise ValueError(f"{y.shape[0]} labels but {p.shape[0]} probabilities")
    predicted = (p >= threshold).astype(np.int64)
    tp = int(np.sum((predicted == 1) & (y == 1)))
    tn = int(np.sum((predicted == 0) & (y == 0)))
    fp = int(np.sum((predicted == 1) & (y == 0)))
    fn = int(np.sum((predicted == 0) & (y == 1)))
    positives, negatives = tp + fn, tn + fp
    undefined: dict[str, str] = {}
    sensitivity = _ratio(tp, positives)
    specificity = _ratio(tn, negatives)
    precision = _ratio(tp, tp + fp)
    if sensitivity is None:
        undefined["sensitivity"] = "no tumour slices in this set"
    if specificity is None:
        undefined["specificity"] = "no normal slices in this set"
    if precision is None:
        undefined["precision"] = "no slice was predicted tumour"
    f1 = _ratio(2 * tp, 2 * tp + fp + fn)
    if f1 is None:
        undefined["f1"] = "no tumour slices and none predicted tumour"
    roc_auc = pr_auc = None
    if positives and negatives:
        roc_auc = float(skm.roc_auc_score(y, p))
        pr_auc = float(skm.average_precision_score(y, p))
    else:
        reason = f"only one class present ({'tumour' if positives else 'normal'} slices only)"
        undefined["roc_auc"] = undefined["pr_auc"] = reason
    return {
        "n": int(y.size),
        "n_tumour": positives,
        "n_normal": negatives,
        "threshold": float(threshold),
        "accuracy": _ratio(tp + tn, y.size),
        "sensitivity": sensitivity,
        "specificity": specificity,
        "precision": precision,
        "f1": f1,
        "roc_auc": roc_auc,
        "pr_auc": pr_auc,
        "brier": float(np.mean((p - y) ** 2)) if y.size else None,
        "confusion_matrix": [[tn, fp], [fn, tp]],
        "undefined": undefined,
    }


def choose_threshold(y_true: np.ndarray, p_tumour: np.ndarray,
                     min_sensitivity: float = DEFAULT_MIN_SENSITIVITY) -> float:
    """Highest threshold reaching ``min_sensitivity`` on these (validation) slices.

    With no tumour slices to measure sensitivity on, falls back to 0.5.
    """
    y = np.asarray(y_true, dtype=np.int64).ravel()
    p = np.asarray(p_tumour, dtype=np.float64).ravel()
    tumour_p = np.sort(p[y == 1])[::-1]
    if tumour_p.size == 0:
        return 0.5
    needed = int(np.ceil(min_sensitivity * tumour_p.size))
    return float(tumour_p[max(needed, 1) - 1])


def curves(y_true: np.ndarray, p_tumour: np.ndarray) -> dict[str, Any]:
    """ROC and PR curve points plus calibration bins, so charts need not recompute them.

    ROC/PR are ``None`` on a one-class set; calibration bins are always given (equal-width bins of
    predicted probability with their mean prediction, observed tumour rate and count).
    """
    y = np.asarray(y_true, dtype=np.int64).ravel()
    p = np.asarray(p_tumour, dtype=np.float64).ravel()
    out: dict[str, Any] = {"roc": None, "pr": None}
    if 0 < y.sum() < y.size:
        fpr, tpr, roc_thr = skm.roc_curve(y, p)
        precision, recall, pr_thr = skm.precision_recall_curve(y, p)
        out["roc"] = {"fpr": fpr.tolist(), "tpr": tpr.tolist(),
                      "thresholds": np.minimum(roc_thr, 1.0).tolist()}
        out["pr"] = {"precision": precision.tolist(), "recall": recall.tolist(),
                     "thresholds": pr_thr.tolist()}
    edges = np.linspace(0.0, 1.0, CALIBRATION_BINS + 1)
    index = np.clip(np.digitize(p, edges[1:-1]), 0, CALIBRATION_BINS - 1)
    bins = []
    for b in range(CALIBRATION_BINS):
        members = index == b
        count = int(members.sum())
        bins.append({"lower": float(edges[b]), "upper": float(edges[b + 1]), "count": count,
                     "mean_predicted": float(p[members].mean()) if count else None,
                     "fraction_tumour": float(y[members].mean()) if count else None})
    out["calibration"] = bins
    return out
