"""The shipped ensemble: its cross-validation is the members' out-of-fold scores combined, and in
the app its p(tumour) comes from the members' cached probabilities through their own calibration.

Real inputs throughout: the shipped CV reports, the shipped models and real slices.
"""
from __future__ import annotations

import copy
import json

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from liver_model import cv_metrics
from liver_model.paths import REPO_ROOT
from liver_model.commands.ensemble import member_report
from liver_model.ensemble import (DEFAULT_ENSEMBLES_DIR, EnsembleCard, cross_validate,
                                  list_shipped_ensembles, probability)
from liver_model.errors import ModelNotFound, ReportMismatch
from liver_model.evaluation import load_row_slice
from liver_model.manifest import read_manifest
from liver_model.training.segmentation import predict_maps
from liver_model.zoo import DEFAULT_MODELS_DIR, list_shipped_models, load_model

SHIPPED = DEFAULT_ENSEMBLES_DIR / "lite0_two_views.json"


@pytest.fixture(scope="module")
def card() -> EnsembleCard:
    return EnsembleCard.from_dict(json.loads(SHIPPED.read_text()))


@pytest.fixture(scope="module")
def reports(card) -> dict[str, dict]:
    return {m: member_report(m, DEFAULT_MODELS_DIR) for m in card.members}


def _scores(report: dict) -> dict[tuple[str, str], float]:
    return {(s["dataset"], s["path"]): s["score"] for s in report["slices"]}


def test_the_ensemble_report_scores_the_mean_of_the_members_oof_scores(reports):
    ensemble = cross_validate(reports)
    members = [_scores(r) for r in reports.values()]
    keys = sorted(members[0])
    mean = np.round([np.mean([m[k] for m in members]) for k in keys], 6)  # stored to 6 places
    labels = {(s["dataset"], s["path"]): s["y"] for s in next(iter(reports.values()))["slices"]}
    y = np.array([labels[k] for k in keys])
    assert ensemble["pooled"]["roc_auc"]["value"] == pytest.approx(roc_auc_score(y, mean), abs=1e-9)
    assert [(s["dataset"], s["path"]) for s in ensemble["slices"]] == keys
    np.testing.assert_allclose([s["score"] for s in ensemble["slices"]], mean, atol=1e-6)
    for name, member in zip(reports, members):
        diff = ensemble["ensemble_minus_member"][name]["roc_auc"]
        own = np.array([member[k] for k in keys])
        assert diff["difference"] == pytest.approx(
            roc_auc_score(y, mean) - roc_auc_score(y, own), abs=1e-9)
        assert diff["ci95_low"] <= diff["difference"] <= diff["ci95_high"]


def test_members_cross_validated_on_other_folds_are_refused(reports):
    changed = copy.deepcopy(reports)
    name = next(iter(changed))
    changed[name]["slices"][0]["fold"] = (changed[name]["slices"][0]["fold"] + 1) % 5
    with pytest.raises(ReportMismatch, match="fold"):
        cross_validate(changed)
    with pytest.raises(ReportMismatch, match="two"):
        cross_validate({name: reports[name]})


def test_the_shipped_card_carries_its_report_calibration_and_threshold(card):
    report = json.loads((REPO_ROOT / card.cross_validation["report"]).read_text())
    assert report["members"] == card.members
    assert card.slope == report["shipping_calibration"]["slope"] > 0
    assert card.threshold == report["shipping_calibration"]["threshold_p"]
    assert card.cross_validation["at_threshold"] == report["operating_point"]["cross_fitted"]
    # the threshold is the out-of-fold one: at it, specificity over the OOF means is >= 0.90
    y = np.array([s["y"] for s in report["slices"]])
    p = cv_metrics.apply_platt(np.array([s["score"] for s in report["slices"]]), card.slope,
                               card.intercept)
    assert (p[y == 0] < card.threshold).mean() >= 0.90


def test_an_ensemble_with_a_member_missing_is_not_offered(card, tmp_path):
    shipped = [c.model_id for c in list_shipped_models()]
    assert [c.ensemble_id for c in list_shipped_ensembles(shipped)] == [card.ensemble_id]
    assert list_shipped_ensembles([m for m in shipped if m != card.members[0]]) == []
    assert list_shipped_ensembles(shipped, tmp_path / "none") == []
    with pytest.raises(ModelNotFound, match=card.members[1]):
        probability(card, {card.members[0]: 0.5})


def test_member_scores_recovered_from_cached_probabilities_match_the_model(card, lits_manifest):
    """The app combines members' *uncalibrated* scores, which it recovers from the p(tumour) it has
    cached; they must equal the score node the cross-validation used."""
    frame = read_manifest(lits_manifest)
    rows = frame.groupby("y").head(3)
    slices = [load_row_slice(path) for path in rows["path"]]
    models = {}
    for member in card.members:
        model = models[member] = load_model(member, load_locator=models.get)
        batch = model.prepare_batch(slices)
        p = model.predict_proba(batch)
        raw, _, _ = predict_maps(model.keras_model, batch, flips=model.card.test_time_flips)
        np.testing.assert_allclose(model.uncalibrated_score(p), raw, atol=2e-4)
    scores = {m: models[m].uncalibrated_score(models[m].predict_proba(
        models[m].prepare_batch(slices[:1])))[0] for m in card.members}
    expected = cv_metrics.apply_platt(np.array([np.mean(list(scores.values()))]), card.slope,
                                      card.intercept)[0]
    assert probability(card, scores) == pytest.approx(expected)
    baseline = load_model("vit")
    with pytest.raises(ModelNotFound, match="calibration"):
        baseline.uncalibrated_score(0.5)


def test_a_volume_is_combined_slice_by_slice(card):
    a, b = np.array([0.1, 0.5, 0.97]), np.array([0.3, 0.2, 0.99])
    stacked = probability(card, {card.members[0]: a, card.members[1]: b})
    assert stacked.shape == (3,)
    np.testing.assert_allclose(stacked, [probability(card, {card.members[0]: x, card.members[1]: y})
                                         for x, y in zip(a, b)])
    assert np.all(np.diff(probability(card, {m: np.linspace(0.05, 0.95, 5) for m in card.members})) > 0)
