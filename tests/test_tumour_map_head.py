"""The map head's pooling gives known answers, and its decision can only grow with the map."""
from __future__ import annotations

import numpy as np
import pytest

from liver_model.architectures.tumour_map_head import LogSumExpPool2D
from liver_model.registry import ARCHITECTURES


def _pool(values: np.ndarray, sharpness: float) -> float:
    return float(np.asarray(LogSumExpPool2D(sharpness)(values[None, ..., None].astype(np.float32)))[0, 0])


def test_log_sum_exp_pool_of_a_constant_map_is_the_constant() -> None:
    assert _pool(np.full((16, 16), -2.5), 4.0) == pytest.approx(-2.5, abs=1e-5)


def test_log_sum_exp_pool_runs_from_the_mean_to_the_maximum() -> None:
    values = np.zeros((16, 16))
    values[3, 4] = 8.0  # one hot cell in a 256-cell map
    mean, peak = values.mean(), values.max()
    assert _pool(values, 1e-3) == pytest.approx(mean, abs=1e-3)
    assert _pool(values, 200.0) == pytest.approx(peak, abs=0.05)
    soft = _pool(values, 4.0)
    assert mean < soft < peak
    # The documented closed form: log(mean(exp(r x))) / r.
    assert soft == pytest.approx(np.log(np.mean(np.exp(4.0 * values))) / 4.0, rel=1e-5)


def test_more_map_evidence_never_lowers_p_tumour() -> None:
    """p = sigmoid(a * pool(map) + b) with a >= 0 (NonNeg constraint, ones at init)."""
    model = ARCHITECTURES["efficientnet_lite0_tumour_map"].build(64)
    dense = model.get_layer("p_tumour")
    assert dense.kernel_constraint is not None
    constrained = np.asarray(dense.kernel_constraint(np.array([[-0.7]], np.float32)))
    assert constrained.min() >= 0.0
    pooled = np.array([[-3.0], [0.0], [2.0]], np.float32)
    p = np.asarray(dense(pooled))[:, 0]
    assert np.all(np.diff(p) > 0)
