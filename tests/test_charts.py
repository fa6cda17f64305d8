"""Unit tests of the pure plotly builders in ``dashboard.charts`` (no Streamlit, no model)."""
from __future__ import annotations

import base64
import io
import json

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from dashboard import charts


@pytest.fixture(scope="module")
def real_slice_rgb(datasets_dir) -> np.ndarray:
    """One real LiTS slice as stored (3-window uint8 RGB), read straight with PIL."""
    first = sorted((datasets_dir / "lits_windowed_jpg" / "images").glob("*.jpg"))[0]
    return np.asarray(Image.open(first).convert("RGB"))


def test_normalised_confusion_matrix_rows_sum_to_one_and_empty_rows_stay_zero() -> None:
    cm = np.array([[30, 10], [0, 0]])
    norm = charts.normalise_confusion_matrix(cm)
    np.testing.assert_allclose(norm[0], [0.75, 0.25])
    np.testing.assert_array_equal(norm[1], [0.0, 0.0])


def test_confusion_matrix_figure_shows_counts_or_fractions_with_counts_in_hover() -> None:
    cm = [[50, 5], [3, 42]]
    counts = charts.confusion_matrix_figure(cm)
    assert [list(row) for row in counts.data[0].text] == [["50", "5"], ["3", "42"]]
    assert counts.data[0].zmax == 50
    norm = charts.confusion_matrix_figure(cm, normalize=True)
    np.testing.assert_allclose(np.asarray(norm.data[0].z), [[50 / 55, 5 / 55], [3 / 45, 42 / 45]])
    assert "3 slices" in norm.data[0].hovertext[1][0]
    assert norm.data[0].zmax == 1


def test_confusion_matrix_rejects_non_square_and_label_mismatch() -> None:
    with pytest.raises(ValueError):
        charts.confusion_matrix_figure([[1, 2, 3], [4, 5, 6]])
    with pytest.raises(ValueError):
        charts.confusion_matrix_figure([[1, 2], [3, 4]], labels=("a", "b", "c"))


def test_metric_bars_group_by_model_in_clinical_order() -> None:
    table = pd.DataFrame(
        [(m, k, v) for m in ("cnn", "vit") for k, v in (("f1", 0.8), ("accuracy", 0.9), ("sensitivity", 0.7))],
        columns=["model", "metric", "value"],
    )
    fig = charts.metric_bars_figure(table)
    assert sorted(t.name for t in fig.data) == ["cnn", "vit"]
    assert list(fig.layout.xaxis.categoryarray) == ["accuracy", "sensitivity", "f1"]
    with pytest.raises(ValueError):
        charts.metric_bars_figure(table.drop(columns="value"))


def test_roc_and_pr_put_every_model_on_one_plot_with_reference_line() -> None:
    fpr, tpr = np.array([0, 0.1, 1.0]), np.array([0, 0.9, 1.0])
    roc = charts.roc_figure({"a": (fpr, tpr, 0.95), "b": (fpr, tpr * 0.9, 0.85)})
    assert [t.name for t in roc.data] == ["chance", "a (AUC 0.950)", "b (AUC 0.850)"]
    pr = charts.pr_figure({"a": (tpr, 1 - fpr, 0.9)}, prevalence=0.4)
    assert pr.data[0].name.startswith("no skill") and list(pr.data[0].y) == [0.4, 0.4]
    assert len(pr.data) == 2


def test_calibration_and_training_curves_draw_what_is_given() -> None:
    cal = charts.calibration_figure({"m": (np.array([0.1, 0.5, 0.9]), np.array([0.0, 0.4, 1.0]))})
    assert len(cal.data) == 2 and list(cal.data[1].y) == [0.0, 0.4, 1.0]
    history = pd.DataFrame({"epoch": [1, 2, 3], "loss": [0.7, 0.5, 0.4], "val_loss": [0.8, 0.6, 0.55],
                            "auc": [0.7, 0.8, 0.9]})
    fig = charts.training_curves_figure(history)
    assert sorted(t.name for t in fig.data) == ["auc", "loss", "val_loss"]
    val = next(t for t in fig.data if t.name == "val_loss")
    assert val.line.dash == "dash" and list(val.y) == [0.8, 0.6, 0.55]


def test_probability_along_z_has_one_line_per_model_thresholds_and_selection() -> None:
    probs = pd.DataFrame({"a": [0.1, 0.7, 0.9], "b": [0.2, 0.3, 0.6]}, index=[10, 11, 12])
    fig = charts.probability_along_z_figure(probs, thresholds={"a": 0.5}, selected=11)
    assert [t.name for t in fig.data] == ["a", "b"]
    assert list(fig.data[0].x) == [10, 11, 12]
    shapes = fig.layout.shapes
    assert any(s.y0 == 0.5 and s.y1 == 0.5 for s in shapes)
    assert any(s.x0 == 11 and s.x1 == 11 for s in shapes)


def _decode_image_trace(fig) -> np.ndarray:
    source = fig.data[0].source
    assert source.startswith("data:image/png;base64,")
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(source.split(",", 1)[1]))))


def test_image_figure_sends_exact_pixels_as_png_and_allows_pan(real_slice_rgb: np.ndarray) -> None:
    fig = charts.image_figure(real_slice_rgb, title="slice")
    decoded = _decode_image_trace(fig)
    np.testing.assert_array_equal(decoded[..., :3], real_slice_rgb)
    assert fig.layout.dragmode == "pan"
    with pytest.raises(ValueError):
        charts.image_figure(real_slice_rgb.astype(np.float32))
    with pytest.raises(ValueError):
        charts.image_figure(np.zeros((4, 4, 5), np.uint8))


def test_heatmap_figure_subsamples_large_maps_but_keeps_range() -> None:
    yy, xx = np.mgrid[0:512, 0:512]
    heat = np.exp(-((yy - 300) ** 2 + (xx - 200) ** 2) / 5000.0)
    fig = charts.heatmap_figure(heat, title="Grad-CAM", max_side=128)
    z = np.asarray(fig.data[0].z)
    assert z.shape == (128, 128)
    peak = np.unravel_index(np.argmax(z), z.shape)
    assert peak == (75, 50)  # 300/4, 200/4: the maximum stays where it was
    assert fig.data[0].zmin == 0 and fig.data[0].zmax == 1
    with pytest.raises(ValueError):
        charts.heatmap_figure(np.zeros((3, 3, 3)))


# --- dashboard.summaries: the numbers the agreement panels print -----------------------------

from dashboard import summaries  # noqa: E402


def test_agreement_uses_each_models_own_threshold() -> None:
    probs = {"a": 0.40, "b": 0.55, "c": 0.90}
    result = summaries.agreement(probs, {"a": 0.35, "b": 0.60, "c": 0.5})
    assert result.n_tumour == 2 and result.n_models == 3 and not result.unanimous
    assert result.p_min == 0.40 and result.p_max == 0.90
    assert "2 of 3" in result.sentence() and "disagree" in result.sentence()
    assert summaries.agreement({"a": 0.1}, {}).unanimous
    with pytest.raises(ValueError):
        summaries.agreement({}, {})


def test_correlation_matrix_ranks_maps_and_resizes_to_a_common_side() -> None:
    yy, xx = np.mgrid[0:128, 0:128].astype(np.float32)
    blob = np.exp(-((yy - 40) ** 2 + (xx - 80) ** 2) / 300.0)
    maps = {"same": blob, "inverted": 1.0 - blob, "small": blob[::2, ::2].copy(), "blank": np.zeros_like(blob)}
    names, matrix = summaries.correlation_matrix(maps)
    i = {n: k for k, n in enumerate(names)}
    assert matrix[i["same"], i["same"]] == pytest.approx(1.0)
    assert matrix[i["same"], i["inverted"]] < -0.98  # float32 ties in the flat tails keep it off -1 exactly
    assert matrix[i["same"], i["small"]] > 0.99  # 64 px copy of the same map, after resizing
    assert np.isnan(matrix[i["same"], i["blank"]])
    np.testing.assert_array_equal(np.nan_to_num(matrix), np.nan_to_num(matrix.T))


def test_mean_correlation_averages_over_groups_and_skips_missing_methods() -> None:
    yy, xx = np.mgrid[0:64, 0:64].astype(np.float32)
    a = np.exp(-((yy - 20) ** 2 + (xx - 20) ** 2) / 100.0)
    b = np.exp(-((yy - 44) ** 2 + (xx - 44) ** 2) / 100.0)
    per_model = {"m1": {"x": a, "y": a}, "m2": {"x": a, "y": 1.0 - a}, "m3": {"x": b}}
    names, mean = summaries.mean_correlation(per_model, ["x", "y"])
    assert names == ["x", "y"]
    assert mean[0, 1] == pytest.approx(0.0, abs=0.02)  # (+1 + -1) / 2; m3 has no "y" and does not vote
    assert mean[0, 0] == pytest.approx(1.0)


# --- dashboard.metrics_view: the shipped evaluation report -> tables and curves --------------

from dashboard import metrics_view  # noqa: E402


def test_metrics_view_reshapes_the_shipped_test_report() -> None:
    report = json.loads(metrics_view.TEST_METRICS.read_text())
    per_model = metrics_view.per_model_metrics(report)
    assert per_model, "assets/metrics/test_metrics.json lists no model"
    table = metrics_view.scalar_table(per_model)
    assert list(table["model"]) == list(per_model)
    for model_id, m in per_model.items():
        row = table.set_index("model").loc[model_id]
        assert row["n"] == m["n"] == sum(map(sum, m["confusion_matrix"]))
        if m["sensitivity"] is not None:
            (tn, fp), (fn, tp) = m["confusion_matrix"]
            assert row["sensitivity"] == pytest.approx(tp / (tp + fn))
    bars = metrics_view.bar_table(per_model)
    assert set(bars["metric"]) <= set(metrics_view.BAR_METRICS)
    roc = metrics_view.roc_curves(per_model)
    for model_id, (fpr, tpr, auc) in roc.items():
        assert fpr[0] == 0 and tpr[-1] == 1 and np.all(np.diff(fpr) >= 0)
        assert np.trapezoid(tpr, fpr) == pytest.approx(auc, abs=1e-6)  # the curve is the AUC's curve
    assert metrics_view.prevalence(per_model) == pytest.approx(report["n_tumour_slices"] / report["n_slices"])
    for mean_pred, frac in metrics_view.calibration_curves(per_model).values():
        assert np.all((mean_pred >= 0) & (mean_pred <= 1)) and np.all((frac >= 0) & (frac <= 1))
    assert "patients" in metrics_view.report_summary(report)
    patients = metrics_view.per_patient_table(per_model)
    assert len(patients) == len(per_model) * len(report["patients"])
    for model_id, m in per_model.items():
        own = patients[patients["model"] == model_id]
        assert own["n"].sum() == m["n"] and own["n_tumour"].sum() == m["n_tumour"]


def test_quality_table_reads_means_medians_and_chance_levels() -> None:
    summary = lambda mean, median=None: {"n": 4, "mean": mean, "std": 0.1, "median": median or mean,  # noqa: E731
                                         "q25": mean, "q75": mean}
    report = {"models": {"m": {"gradcam": {"metrics": {"pointing_tumour": summary(0.75),
                                                       "energy_tumour": summary(0.3),
                                                       "runtime_s": summary(0.5, median=0.2)},
                                           "randomisation_rank_correlation": summary(0.1)}}},
              "chance": {"m": {"chance_energy_tumour": summary(0.05), "chance_pointing_tumour": summary(0.2)}}}
    table = metrics_view.quality_table(report)
    row = table.iloc[0]
    assert (row["model"], row["method"]) == ("m", "gradcam")
    assert row["pointing_tumour"] == 0.75 and row["runtime_s"] == 0.2  # runtime: median, others: mean
    assert row["chance_energy_tumour"] == 0.05 and row["randomisation_rank_corr"] == 0.1
    assert pd.isna(row["deletion_auc"]) and row["n_slices"] == 4
    assert metrics_view.quality_table(report, ["other"]).empty
