"""Binary metrics, threshold choice and curves, checked against hand counts and scikit-learn."""
from __future__ import annotations

import numpy as np
import pytest
from sklearn import metrics as skm

from liver_model import metrics


def test_counts_and_ratios_by_hand() -> None:
    y = np.array([1, 1, 1, 0, 0, 0, 0])
    p = np.array([0.9, 0.6, 0.2, 0.7, 0.1, 0.3, 0.05])
    m = metrics.binary_metrics(y, p, threshold=0.5)
    assert m["confusion_matrix"] == [[3, 1], [1, 2]]
    assert m["sensitivity"] == pytest.approx(2 / 3)
    assert m["specificity"] == pytest.approx(3 / 4)
    assert m["precision"] == pytest.approx(2 / 3)
    assert m["accuracy"] == pytest.approx(5 / 7)
    assert m["f1"] == pytest.approx(skm.f1_score(y, p >= 0.5))
    assert m["roc_auc"] == pytest.approx(skm.roc_auc_score(y, p))
    assert m["pr_auc"] == pytest.approx(skm.average_precision_score(y, p))
    assert m["brier"] == pytest.approx(skm.brier_score_loss(y, p))
    assert m["undefined"] == {}


def test_one_class_set_gives_null_auc_with_reason() -> None:
    m = metrics.binary_metrics(np.zeros(5), np.linspace(0.1, 0.9, 5), threshold=0.5)
    assert m["roc_auc"] is None and m["pr_auc"] is None and m["sensitivity"] is None
    assert "one class" in m["undefined"]["roc_auc"]
    assert m["specificity"] == pytest.approx(2 / 5)  # 0.5, 0.7, 0.9 >= 0.5
    c = metrics.curves(np.zeros(5), np.linspace(0.1, 0.9, 5))
    assert c["roc"] is None and sum(b["count"] for b in c["calibration"]) == 5


def test_threshold_is_highest_reaching_target_sensitivity() -> None:
    rng = np.random.default_rng(3)
    y = rng.integers(0, 2, 200)
    p = np.clip(0.35 * y + rng.normal(0.3, 0.2, 200), 0, 1)
    t = metrics.choose_threshold(y, p, min_sensitivity=0.9)
    assert np.mean(p[y == 1] >= t) >= 0.9
    higher = np.min(p[p > t]) if np.any(p > t) else 1.1
    assert np.mean(p[y == 1] >= higher) < 0.9


def test_curves_match_sklearn() -> None:
    rng = np.random.default_rng(4)
    y = rng.integers(0, 2, 100)
    p = rng.uniform(size=100)
    c = metrics.curves(y, p)
    fpr, tpr, _ = skm.roc_curve(y, p)
    assert np.allclose(c["roc"]["fpr"], fpr) and np.allclose(c["roc"]["tpr"], tpr)
    counts = [b["count"] for b in c["calibration"]]
    assert sum(counts) == 100
