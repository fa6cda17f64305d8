"""Unit tests of the segmentation-era UI helpers: the threshold sentence and shortcut-baseline
tag (``dashboard.summaries``), the model's own outline (``liver_model.explain.overlay``), the
Teaching Dice, and the cross-validation view (``dashboard.cv_view``, ``dashboard.cv_charts``).

No Streamlit run and no model: cards and reports are built here, in the shape the trainers and
``python -m liver_model cv`` write them.
"""
from __future__ import annotations

import json

import numpy as np
import pytest

from dashboard import cv_charts, cv_view, summaries
from liver_model.explain.overlay import (MODEL_LIVER_COLOUR, MODEL_TUMOUR_COLOUR,
                                         draw_segmentation_outline)
from liver_model.registry import ARCHITECTURES
from liver_model.zoo import ModelCard

SEGMENTATION_ARCH = next(name for name, spec in ARCHITECTURES.items() if spec.segmentation)
LABEL_ARCH = next(name for name, spec in ARCHITECTURES.items() if not spec.segmentation and spec.map_layer is None)


def interval(value: float, low: float, high: float) -> dict[str, float]:
    return {"value": value, "ci95_low": low, "ci95_high": high, "resamples": 1000}


def card(architecture: str, **extra: object) -> ModelCard:
    return ModelCard.from_dict({"model_id": f"m_{architecture}", "architecture": architecture, "family": "f",
                                "input_size": 192, "params": 1, "initialisation": "scratch",
                                "initialisation_detail": "", "cam_layer": "x", "is_transformer": False,
                                "threshold": 0.4366, **extra})


CV = {"report": "assets/metrics/cv_x.json", "n_folds": 5, "n_patients": 28, "n_slices": 1182,
      "manifests": ["a"], "roc_auc": interval(0.9, 0.85, 0.95), "pr_auc": interval(0.8, 0.7, 0.9),
      "at_threshold": {"sensitivity": 0.84, "specificity": 0.91}}


def test_threshold_sentence_says_what_the_threshold_finds_and_whether_it_was_cross_validated() -> None:
    cross_validated = summaries.threshold_sentence(card(SEGMENTATION_ARCH, cross_validation=CV))
    assert cross_validated == ("Threshold 0.437: finds 84% of tumour slices, flags 9% of normal ones "
                               "(cross-validated over 28 patients).")
    old = card(LABEL_ARCH, validation_metrics={"sensitivity": 0.9078, "specificity": 0.2043},
               training_data={"val": {"slices": 169, "tumour_slices": 76, "patients": 5}})
    sentence = summaries.threshold_sentence(old)
    assert "finds 91% of tumour slices, flags 80% of normal ones on 5 validation patients" in sentence
    assert "(not cross-validated)" in sentence
    assert "not cross-validated" in summaries.threshold_sentence(card(LABEL_ARCH))


def test_a_liver_view_model_says_which_model_finds_the_liver_it_sees() -> None:
    assert summaries.view_note(card(SEGMENTATION_ARCH)) is None
    note = summaries.view_note(card(SEGMENTATION_ARCH, view="liver", locator="lite0_locator"))
    assert note is not None and "lite0_locator" in note and "liver only" in note


def test_only_models_trained_on_labels_alone_are_shortcut_baselines() -> None:
    assert summaries.is_label_only(card(LABEL_ARCH))
    assert not summaries.is_label_only(card(LABEL_ARCH, tumour_map_weight=0.5))
    assert not summaries.is_label_only(card(SEGMENTATION_ARCH))


def test_own_outline_draws_liver_and_tumour_contours_in_their_own_colours() -> None:
    image = np.full((64, 64, 3), 40, np.uint8)
    liver = np.zeros((64, 64), bool)
    liver[8:56, 8:56] = True
    tumour = np.zeros((64, 64), bool)
    tumour[24:36, 24:36] = True
    out = draw_segmentation_outline(image, tumour, liver, thickness=1)
    assert tuple(out[8, 30]) == MODEL_LIVER_COLOUR and tuple(out[24, 30]) == MODEL_TUMOUR_COLOUR
    assert tuple(out[30, 30]) == (40, 40, 40) and tuple(out[2, 2]) == (40, 40, 40)  # inside / outside untouched
    assert np.array_equal(image, np.full((64, 64, 3), 40, np.uint8))  # the input is not drawn on
    tumour_only = draw_segmentation_outline(image, tumour, None, thickness=1)
    assert not (tumour_only == np.array(MODEL_LIVER_COLOUR)).all(axis=2).any()


def test_teaching_dice_compares_the_models_masks_with_the_reference() -> None:
    from dashboard.teaching import dice_sentence, slice_dice
    from liver_model.masks import LabelMask
    from liver_model.segmentation import SegmentationMaps

    liver = np.zeros((32, 32), np.float32)
    liver[4:28, 4:28] = 0.9
    tumour = np.zeros((32, 32), np.float32)
    tumour[10:14, 10:18] = 0.8  # 32 pixels, half of the reference tumour
    maps = SegmentationMaps(model_id="m", tumour=tumour, liver=liver, map_side=16)
    ref_tumour = np.zeros((32, 32), bool)
    ref_tumour[10:18, 10:18] = True
    scores = slice_dice(maps, LabelMask(liver=liver > 0.5, tumour=ref_tumour))
    assert scores["tumour"] == pytest.approx(2 * 32 / (32 + 64)) and scores["liver"] == pytest.approx(1.0)
    assert "tumour **0.67**" in dice_sentence(scores)
    empty = slice_dice(SegmentationMaps("m", np.zeros((32, 32), np.float32), None, 16),
                       LabelMask(liver=liver > 0.5, tumour=np.zeros((32, 32), bool)))
    assert empty == {"tumour": None, "liver": None}
    assert "n/a" in dice_sentence(empty)


REPORT = {
    "n_folds": 5, "n_patients": 3, "n_slices": 60, "n_tumour_slices": 20, "manifests": ["lits/manifest.csv"],
    "config": {"epochs": 12, "size": 192},
    "pooled": {"roc_auc": interval(0.91, 0.86, 0.95), "pr_auc": interval(0.8, 0.7, 0.88),
               "sensitivity_at_specificity_0.90": interval(0.7, 0.6, 0.8),
               "specificity_at_sensitivity_0.90": interval(0.75, 0.6, 0.85)},
    "per_patient": {"p1": {"n": 20, "n_tumour": 8, "roc_auc": 0.95}, "p2": {"n": 20, "n_tumour": 12, "roc_auc": 0.4},
                    "p3": {"n": 20, "n_tumour": 0, "roc_auc": None, "reason": "one class only"}},
    "calibration": {"brier": 0.12, "ece": 0.05,
                    "bins": [{"count": 30, "mean_predicted": 0.1, "fraction_tumour": 0.05},
                             {"count": 0, "mean_predicted": None, "fraction_tumour": None},
                             {"count": 30, "mean_predicted": 0.8, "fraction_tumour": 0.7}]},
    "baselines": {"reference_liver_pixels": {"what": "liver pixels", "roc_auc": interval(0.7, 0.6, 0.8)},
                  "constant": {"what": "prevalence", "roc_auc": 0.5, "brier": 0.22}},
    "segmentation": {"liver_dice_on_tumour_slices": {"median": 0.9, "q25": 0.85, "q75": 0.93, "mean": 0.88, "n_slices": 20},
                     "tumour_dice_on_tumour_slices": {"median": 0.6, "q25": 0.3, "q75": 0.75, "mean": 0.55, "n_slices": 20},
                     "lesion_detection": {"pixels": {"0-100 px": {"lesions": 4, "detected": 1, "rate": 0.25},
                                                     ">= 2000 px": {"lesions": 2, "detected": 2, "rate": 1.0}},
                                          "mm": {"0-10 mm": {"lesions": 0, "detected": 0, "rate": None}}}},
}


def test_cv_summary_puts_the_model_beside_both_baselines_with_intervals() -> None:
    table = cv_view.summary_table("m", REPORT)
    assert list(table["scored by"].str.split(" ").str[0]) == ["m", "baseline:", "baseline:"]
    assert table.loc[0, "ROC AUC [95 % CI]"] == "0.910 [0.860-0.950]"
    assert table.loc[0, "sensitivity at specificity 0.90"] == "0.700 [0.600-0.800]"
    assert table.loc[1, "ROC AUC [95 % CI]"] == "0.700 [0.600-0.800]" and table.loc[2, "ROC AUC [95 % CI]"] == "0.500"
    assert table.loc[0, "Brier"] == 0.12 and table.loc[2, "Brier"] == 0.22
    assert "5 folds by patient, 3 patients" in cv_view.report_caption(REPORT)
    assert "copy-pasted" not in cv_view.report_caption(REPORT)


def test_cv_caption_tells_an_ablation_recipe_from_the_shipped_one() -> None:
    ablation = {**REPORT, "config": {"epochs": 8, "size": 192, "init": "scratch", "copy_paste": 0.5,
                                      "synthetic_lesions": 0.0}}
    caption = cv_view.report_caption(ablation)
    assert "scratch initialisation" in caption
    assert "0.5 copies with a copy-pasted lesion per tumour-free liver slice" in caption and "synthetic" not in caption
    shipped = cv_view.report_caption({**REPORT, "config": {"size": 192, "synthetic_lesions": 1.0}})
    assert "1 copy with synthetic lesions 20-60 HU darker than the liver per tumour-free liver slice" in shipped
    fainter = cv_view.report_caption({**REPORT, "config": {"synthetic_lesions": 1.0, "synthetic_contrast_min_hu": 5.0,
                                                           "synthetic_contrast_max_hu": 65.0}})
    assert "synthetic lesions 5-65 HU darker" in fainter
    assert "zoom" not in shipped and "jitter" not in shipped
    jittered = cv_view.report_caption({**REPORT, "config": {"size": 192, "zoom_jitter": 0.15,
                                                            "window_jitter": 0.1}})
    assert "training zoom +-15 %, window jitter +-10 %" in jittered
    weighted = cv_view.report_caption({**REPORT, "config": {"size": 192, "slice_loss_weight": 0.5}})
    assert "slice-score loss weight 0.5" in weighted and "slice-score" not in shipped
    assert "flipped" not in shipped
    flipped = cv_view.report_caption({**REPORT, "config": {"size": 192, "test_time_flips": 4}})
    assert "maps averaged over 4 flipped copies of each slice" in flipped
    assert "192 px body crop" in caption
    liver = cv_view.report_caption({**REPORT, "config": {"size": 192, "view": "liver"}, "locator": "cv_lite0"})
    assert "192 px liver view (box from the out-of-fold liver maps of cv_lite0)" in liver


def test_cv_lesion_dice_and_calibration_reshaping() -> None:
    lesions = cv_view.lesion_table(REPORT)
    assert list(lesions["lesion size"]) == ["0-100 px", ">= 2000 px"]  # empty mm buckets are left out
    assert list(lesions["detection rate"]) == [0.25, 1.0]
    assert cv_view.dice_stats(REPORT)["tumour"]["median"] == 0.6
    mean_pred, frac = cv_view.calibration_points(REPORT)
    assert list(mean_pred) == [0.1, 0.8] and list(frac) == [0.05, 0.7]


def test_cv_reports_are_found_through_the_cards_and_the_metrics_folder(tmp_path) -> None:
    (tmp_path / "cv_shipped.json").write_text(json.dumps(REPORT))
    (tmp_path / "cv_other_recipe.json").write_text(json.dumps({**REPORT, "n_folds": 3}))
    shipped = card(SEGMENTATION_ARCH, cross_validation={**CV, "report": "assets/metrics/cv_shipped.json"})
    reports = cv_view.load_reports([shipped, card(LABEL_ARCH)], tmp_path)
    assert set(reports) == {shipped.model_id, "other_recipe"}
    assert reports[shipped.model_id]["n_folds"] == 5 and reports["other_recipe"]["n_folds"] == 3


def test_a_report_named_like_a_shipped_model_but_not_its_cards_is_labelled_not_dropped(tmp_path) -> None:
    shipped = card(SEGMENTATION_ARCH, cross_validation={**CV, "report": "assets/metrics/cv_shipped.json"})
    (tmp_path / "cv_shipped.json").write_text(json.dumps(REPORT))
    (tmp_path / f"cv_{shipped.model_id}.json").write_text(json.dumps({**REPORT, "n_folds": 3}))
    reports = cv_view.load_reports([shipped], tmp_path)
    assert reports[shipped.model_id]["n_folds"] == 5
    assert reports[f"{shipped.model_id} (not the card's report)"]["n_folds"] == 3


def test_per_patient_chart_sorts_marks_backwards_patients_and_names_unscored_ones() -> None:
    fig = cv_charts.per_patient_auc_figure(REPORT["per_patient"])
    bar = fig.data[0]
    assert list(bar.x) == ["p2", "p1"] and list(bar.y) == [0.4, 0.95]
    assert bar.marker.color == (cv_charts.BELOW_CHANCE, cv_charts.ABOVE_CHANCE)
    assert "p3" in fig.layout.title.text
    assert fig.layout.shapes[0].y0 == 0.5


def test_dice_chart_shows_medians_with_quartile_error_bars() -> None:
    fig = cv_charts.dice_figure({"m": cv_view.dice_stats(REPORT)})
    by_organ = {trace.name: trace for trace in fig.data}
    assert by_organ["tumour"].y == (0.6,)
    assert by_organ["tumour"].error_y.array == pytest.approx((0.15,))
    assert by_organ["tumour"].error_y.arrayminus == pytest.approx((0.3,))


def test_fixed_split_note_names_cross_validated_models_and_their_out_of_fold_auc() -> None:
    validated = card(SEGMENTATION_ARCH, cross_validation={**CV, "fixed_test_split_roc_auc": 0.8123})
    note = cv_view.fixed_split_note([validated, card(LABEL_ARCH)])
    assert f"{validated.model_id} 0.812" in note and "not held out" in note
    assert note.count(" m_") == 1  # the label-only model is not listed
    assert cv_view.fixed_split_note([card(LABEL_ARCH)]) is None


def test_an_ensemble_report_is_captioned_as_such_and_tabled_against_each_member() -> None:
    diff = {"difference": 0.017, "ci95_low": -0.007, "ci95_high": 0.035, "fraction_b_better": 0.92}
    ensemble = {**REPORT, "members": ["a", "b"], "rule": "mean of the members' scores",
                "segmentation": None,
                "ensemble_minus_member": {"a": {"roc_auc": diff}, "b": {"roc_auc": {**diff, "difference": 0.025}}}}
    assert cv_view.is_ensemble(ensemble) and not cv_view.is_ensemble(REPORT)
    caption = cv_view.report_caption(ensemble)
    assert "ensemble, no training of its own: mean of the members' scores" in caption
    assert "a, b (same folds)" in caption and "epochs" not in caption
    table = cv_view.ensemble_table(ensemble)
    assert list(table["member"]) == ["a", "b"] and list(table["metric"]) == ["ROC AUC"] * 2
    assert list(table["ensemble - member"]) == [0.017, 0.025]
    assert table.loc[0, "95 % CI"] == "[-0.007, +0.035]"
    assert cv_view.lesion_table(ensemble).empty and cv_view.dice_stats(ensemble) == {}


def test_an_ensemble_says_what_it_combines() -> None:
    from liver_model.ensemble import EnsembleCard

    ensemble = EnsembleCard(ensemble_id="e", members=["a", "b"], threshold=0.5, cross_validation=CV)
    assert summaries.ensemble_sentence(ensemble).startswith("Mean of a and b")
    agree = summaries.members_sentence(ensemble, {"a": 0.8, "b": 0.6}, {"a": 0.5, "b": 0.55})
    assert agree == "Members: a says tumour (p 0.80); b says tumour (p 0.60) - they agree."
    split = summaries.members_sentence(ensemble, {"a": 0.8, "b": 0.5}, {"a": 0.5, "b": 0.55})
    assert "b says normal (p 0.50)" in split and "they disagree" in split
    assert summaries.threshold_sentence(ensemble).startswith("Threshold 0.500: finds 84% of tumour slices, flags 9%")
    assert summaries.cv_auc_sentence(ensemble) == ("Expected ROC AUC on unseen patients 0.900 [0.850-0.950] "
                                                   "(cross-validated).")
    assert summaries.cv_auc_sentence(card(LABEL_ARCH)) == ""
