"""Every dashboard page driven headless with ``streamlit.testing.v1.AppTest``.

Real inputs only: slices from the shared datasets, the models shipped in ``assets/models``. Runs
that load models are few and share one process-wide ``st.cache_resource``, so the weights load
once for the whole module.
"""
from __future__ import annotations

import base64
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from apptest_pages import APP, TIMEOUT, open_page, study_a_lits_tumour_slice
from dashboard import cv_view, recipe_view, summaries
from dashboard.summaries import SHORTCUT_BASELINE, is_label_only, threshold_sentence, view_note
from liver_model.ensemble import list_shipped_ensembles
from liver_model.ensemble import probability as ensemble_probability
from liver_model.manifest import read_manifest
from liver_model.registry import get_architecture
from liver_model.zoo import list_shipped_models, load_model

REPO = Path(__file__).resolve().parent.parent
PAGES = ("pages/diagnose.py", "pages/compare.py", "pages/performance.py", "pages/volume.py", "pages/teaching.py")
UPLOAD_PAGES = ("pages/diagnose.py", "pages/compare.py", "pages/volume.py")


@pytest.fixture(scope="module")
def model_ids() -> list[str]:
    """Ids of the shipped models; the UI tests are meaningless without them, so fail loudly."""
    ids = [card.model_id for card in list_shipped_models()]
    if not ids:
        pytest.fail("No trained model is shipped in assets/models/; the dashboard tests need them.", pytrace=False)
    return ids


@pytest.fixture(scope="module")
def segmentation_ids(model_ids: list[str]) -> list[str]:
    """Shipped models that draw their own outline; the product ships at least one."""
    ids = [c.model_id for c in list_shipped_models() if get_architecture(c.architecture).segmentation]
    if not ids:
        pytest.fail("No segmentation model is shipped in assets/models/; the outline tests need one.", pytrace=False)
    return ids


@pytest.fixture(scope="module")
def outlined_ids(segmentation_ids: list[str]) -> list[str]:
    """Shipped models with a tumour map of their own (segmentation and map-head models): each
    draws an outline; label-only models say they have none."""
    return [c.model_id for c in list_shipped_models() if get_architecture(c.architecture).map_layer is not None]


@pytest.fixture(scope="module")
def tumour_slice(lits_manifest: Path) -> tuple[str, bytes]:
    """The LiTS JPEG with the largest tumour: every model should see something there."""
    frame = read_manifest(lits_manifest)
    row = frame.loc[frame["tumour_pixels"].astype(int).idxmax()]
    return Path(row["path"]).name, Path(row["path"]).read_bytes()


@pytest.fixture(scope="module")
def dicom_series(ircadb_manifest: Path) -> list[tuple[str, bytes]]:
    """Six IRCAD DICOM files with liver (HU-calibrated), uploaded in reverse order on purpose."""
    frame = read_manifest(ircadb_manifest)
    rows = frame[frame["has_liver"].astype(str).str.lower().isin(["true", "1"])].head(6)
    return [(Path(p).name, Path(p).read_bytes()) for p in reversed(list(rows["path"]))]


@pytest.fixture()
def no_dataset(monkeypatch: pytest.MonkeyPatch) -> None:
    """No dataset folder configured, as on a fresh install."""
    monkeypatch.delenv("LIVERLENS_DATA_DIR", raising=False)


def texts(at: AppTest) -> str:
    """All markdown, captions, alerts and titles of the last run, joined, for content assertions."""
    parts = [e.value for kind in ("markdown", "caption", "info", "warning", "error", "success", "title",
                                  "subheader", "header") for e in getattr(at, kind)]
    return "\n".join(str(p) for p in parts)


def plotly_specs(at: AppTest) -> list[dict]:
    """The figure JSON of every plotly chart on the page."""
    return [json.loads(node.proto.spec) for node in at.get("plotly_chart")]


def combined_calls(model_ids: list[str]) -> list[str]:
    """Names under which each shipped ensemble's combined call is listed beside the models."""
    return [f"{e.ensemble_id} (combined call)" for e in list_shipped_ensembles(model_ids)]


def trace_values(values: list | dict) -> np.ndarray:
    """A trace's data array: plotly sends numeric arrays as base64 ``bdata`` with a dtype."""
    if isinstance(values, dict) and "bdata" in values:
        return np.frombuffer(base64.b64decode(values["bdata"]), dtype=values["dtype"])
    return np.asarray(values)


def test_home_lists_every_shipped_model_and_the_disclaimer(no_dataset: None, model_ids: list[str]) -> None:
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.run()
    assert not at.exception
    assert "not a medical device" in texts(at)
    for ensemble in list_shipped_ensembles(model_ids):
        assert f"Combined call `{ensemble.ensemble_id}`" in texts(at)
        assert summaries.threshold_sentence(ensemble) in texts(at)
    table = at.dataframe[0].value
    assert sorted(table["model"]) == sorted(model_ids)
    supervision = dict(zip(table["model"], table["trained on"]))
    cv_auc = dict(zip(table["model"], table["CV ROC AUC [95 % CI]"]))
    for card in list_shipped_models():
        if get_architecture(card.architecture).segmentation:
            assert supervision[card.model_id] == "liver + tumour masks (segmentation)"
        elif is_label_only(card):
            assert supervision[card.model_id] == SHORTCUT_BASELINE
        if card.cross_validation:
            assert cv_auc[card.model_id].startswith(f"{card.cross_validation['roc_auc']['value']:.3f} [")


@pytest.mark.parametrize("page", PAGES)
def test_every_page_runs_without_dataset_or_upload(no_dataset: None, page: str) -> None:
    at = open_page(page)
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error
    shown = texts(at)
    if page in UPLOAD_PAGES:
        assert "Upload" in shown
    if page.endswith("teaching.py"):
        assert "LIVERLENS_DATA_DIR" in shown and "manifest.csv" in shown


@pytest.mark.parametrize("page", UPLOAD_PAGES)
def test_bad_uploads_give_clear_errors_and_a_good_one_still_works(no_dataset: None, page: str,
                                                                  tumour_slice: tuple[str, bytes],
                                                                  dicom_series: list[tuple[str, bytes]]) -> None:
    at = open_page(page)
    name, data = tumour_slice
    bad = [("notes.txt", b"patient notes, not an image", "text/plain"),
           ("truncated.jpg", data[: len(data) // 3], "image/jpeg"),
           ("empty.dcm", b"", "application/dicom")]
    at.file_uploader[0].set_value(bad)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    errors = [e.value for e in at.error]
    assert len(errors) == 3
    assert any("notes.txt" in e for e in errors) and any("empty" in e.lower() for e in errors)
    assert any("truncated" in e for e in errors)
    # The app keeps running: the same uploader then accepts real files.
    good = dicom_series if page.endswith("volume.py") else [(name, data, "image/jpeg")]
    at.file_uploader[0].set_value([(n, d, "application/octet-stream") for n, d, *_ in good])
    at.run()
    assert not at.exception and not at.error


def test_diagnose_shows_every_model_and_gradcam_for_each(no_dataset: None, model_ids: list[str],
                                                         tumour_slice: tuple[str, bytes]) -> None:
    at = open_page("pages/diagnose.py")
    at.file_uploader[0].set_value((tumour_slice[0], tumour_slice[1], "image/jpeg"))
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    shown = texts(at)
    assert "Not HU-calibrated" in shown
    for model_id in model_ids:
        assert f"**{model_id}**" in shown
    # Under each call, what its threshold means; label-only models are tagged as shortcut baselines.
    for card in list_shipped_models():
        assert threshold_sentence(card) in shown
    # A liver-view model says which model finds the liver it looks at (one is shipped).
    notes = [view_note(c) for c in list_shipped_models() if view_note(c)]
    assert notes and all(note in shown for note in notes)
    assert shown.count(SHORTCUT_BASELINE) == sum(is_label_only(c) for c in list_shipped_models())
    # Under each test-time-flipped model, its copies' own calls with what their spread has meant.
    flipped = [c for c in list_shipped_models() if c.test_time_flips > 1]
    assert flipped and shown.count("Flipped copies: as is ") == len(flipped)
    assert "cross-validated" in shown[shown.index("Flipped copies: as is "):]
    assert f"of {len(model_ids)}** models say tumour" in shown
    # Each shipped ensemble's combined call comes first, with what it combines and its threshold.
    ensembles = list_shipped_ensembles(model_ids)
    assert ensembles, "no shipped ensemble"
    for ensemble in ensembles:
        assert f"**Combined call, {ensemble.ensemble_id}**" in shown
        assert shown.index(f"Combined call, {ensemble.ensemble_id}") < shown.index(f"**{model_ids[0]}**")
        assert summaries.ensemble_sentence(ensemble) in shown
        assert f"Members: {ensemble.members[0]} says " in shown
        assert summaries.threshold_sentence(ensemble) in shown
    bars = [bar.proto.text for bar in at.get("progress")]
    assert sum(text.startswith("p(tumour) = ") for text in bars) == len(model_ids) + len(ensembles)
    # Under each call with a CV report, where that model fails on unseen patients, folded away.
    from dashboard.cv_view import weak_spots_of

    spotted = [c for c in [*ensembles, *list_shipped_models()] if weak_spots_of(c)]
    folds = [e for e in at.expander if e.label == "Where it fails (cross-validated)"]
    assert len(folds) == len(spotted) >= 3
    assert all(spot in shown for card in spotted for spot in weak_spots_of(card))
    specs = plotly_specs(at)
    # One slice image plus one Grad-CAM overlay per model (Grad-CAM is on by default).
    titles = [s["layout"].get("title", {}).get("text", "") for s in specs]
    assert sum(t.startswith(tuple(model_ids)) for t in titles) == len(model_ids)
    # Switching on Grad-CAM++ adds one more overlay per model, without any exception.
    at.toggle(key="diagnose_explain_on_gradcam++").set_value(True)
    at.run()
    assert not at.exception
    assert len(plotly_specs(at)) == 1 + 2 * len(model_ids)


def test_diagnose_outline_toggle_draws_each_segmentation_models_own_outline(
        no_dataset: None, model_ids: list[str], outlined_ids: list[str], tumour_slice: tuple[str, bytes]) -> None:
    at = open_page("pages/diagnose.py")
    at.file_uploader[0].set_value((tumour_slice[0], tumour_slice[1], "image/jpeg"))
    at.run()
    before = len(plotly_specs(at))
    at.toggle(key="diagnose_explain_outline").set_value(True)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    specs = plotly_specs(at)
    titles = [s["layout"].get("title", {}).get("text", "") for s in specs]
    assert sorted(t.split(":")[0] for t in titles if t.endswith("own outline")) == sorted(outlined_ids)
    assert len(specs) == before + len(outlined_ids)
    label_only = set(model_ids) - set(outlined_ids)
    assert texts(at).count("no segmentation: labels-only model") >= len(label_only)
    # Drawing the outline over the heatmaps too changes pixels, not the number of figures.
    at.toggle(key="diagnose_explain_outline_over").set_value(True)
    at.run()
    assert not at.exception and len(plotly_specs(at)) == len(specs)


def test_diagnose_dicom_series_offers_hu_windows_and_a_slice_slider(no_dataset: None,
                                                                    dicom_series: list[tuple[str, bytes]]) -> None:
    at = open_page("pages/diagnose.py")
    at.file_uploader[0].set_value([(n, d, "application/dicom") for n, d in dicom_series])
    at.run()
    assert not at.exception
    assert "Not HU-calibrated" not in texts(at)
    window = at.radio(key="diagnose_window")
    assert len(window.options) == 4 and any("Abdomen" in o for o in window.options)
    slider = at.slider[0]
    assert slider.max == len(dicom_series) - 1
    # Slices are ordered by InstanceNumber although they were uploaded in reverse.
    captions = [c.value for c in at.caption if c.value.startswith("Slice 1 of")]
    first_index = int(captions[0].split("[slice ")[1].rstrip("]"))
    slider.set_value(len(dicom_series) - 1)
    at.run()
    last = [c.value for c in at.caption if c.value.startswith(f"Slice {len(dicom_series)} of")]
    assert int(last[0].split("[slice ")[1].rstrip("]")) > first_index


def test_volume_plots_every_model_along_z_and_opens_a_slice_in_diagnose(
        no_dataset: None, model_ids: list[str], dicom_series: list[tuple[str, bytes]]) -> None:
    at = open_page("pages/volume.py")
    at.file_uploader[0].set_value([(n, d, "application/dicom") for n, d in dicom_series])
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    spec = plotly_specs(at)[0]
    ensembles = list_shipped_ensembles(model_ids)
    combined = {f"{e.ensemble_id} (combined call)": e for e in ensembles}
    assert sorted(trace["name"] for trace in spec["data"]) == sorted(model_ids + list(combined))
    curves = {trace["name"]: trace_values(trace["y"]) for trace in spec["data"]}
    for p in curves.values():
        assert p.shape == (len(dicom_series),) and np.all((p >= 0) & (p <= 1))
    # The combined curve is the ensemble rule applied, slice by slice, to its members' curves.
    for name, ensemble in combined.items():
        scores = {m: load_model(m, load_locator=lambda n: load_model(n)).uncalibrated_score(curves[m])
                  for m in ensemble.members}
        np.testing.assert_allclose(curves[name], ensemble_probability(ensemble, scores), atol=1e-6)
    at.slider[0].set_value(3)
    at.run()
    next(b for b in at.button if b.label.startswith("Open")).click()
    at.run()
    assert not at.exception
    assert any(t.value == "Diagnose" for t in at.title)
    assert at.slider[0].value == 3


def test_compare_grid_and_agreement_tables(no_dataset: None, model_ids: list[str], outlined_ids: list[str],
                                           tumour_slice: tuple[str, bytes]) -> None:
    at = open_page("pages/compare.py")
    at.file_uploader[0].set_value((tumour_slice[0], tumour_slice[1], "image/jpeg"))
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    methods = at.multiselect(key="compare_methods").value
    assert len(methods) >= 2
    assert len(plotly_specs(at)) == len(model_ids) * len(methods)
    method_table = at.dataframe[1].value
    assert method_table.shape == (len(methods), len(methods))
    diagonal = [method_table.iloc[i, i] for i in range(len(methods))]
    assert all(pd.isna(v) or abs(v - 1.0) < 1e-9 for v in diagonal)
    assert "models say tumour" in texts(at)
    calls = at.dataframe[0].value
    ensembles = list_shipped_ensembles(model_ids)
    assert list(calls["model"]) == model_ids + [
        f"{e.ensemble_id} (combined call)" for e in ensembles]
    assert set(calls["call"]) <= {"tumour", "no tumour"}
    # A flipped model's row gives its copies' spread (one-pass models and combined calls: blank).
    flipped = {c.model_id for c in list_shipped_models() if c.test_time_flips > 1}
    spreads = dict(zip(calls["model"], calls["flipped copies' spread"]))
    assert flipped and all(0.0 <= float(spreads[m]) <= 1.0 for m in flipped)
    assert all(v == "" for m, v in spreads.items() if m not in flipped)
    # The outline toggle adds a column: one own-outline image per segmentation model.
    at.toggle(key="compare_outline").set_value(True)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert len(plotly_specs(at)) == len(model_ids) * len(methods) + len(outlined_ids)
    assert SHORTCUT_BASELINE in texts(at) or not any(is_label_only(c) for c in list_shipped_models())


def test_performance_shows_shipped_metrics_and_csv(no_dataset: None, model_ids: list[str]) -> None:
    at = open_page("pages/performance.py")
    assert not at.exception, [e.value for e in at.exception]
    # Shipped models and combined calls are selected; recipes tried and not shipped are offered.
    ensemble_ids = [e.model_id for e in list_shipped_ensembles(model_ids)]
    picker = at.multiselect(key="performance_models")
    assert sorted(picker.value) == sorted(set(model_ids) | set(ensemble_ids))
    assert "efficientnet_lite0_unet_seed_43" in picker.options
    # ... and the ablations are compared with them, one row per paired recipe, seed noise named.
    comparison = recipe_view.load_comparison()
    ablations = next(d.value for d in at.dataframe if "ROC AUC difference [95 % CI]" in d.value.columns)
    assert sorted(ablations["recipe"]) == sorted(r["recipe"] for r in comparison["rows"] if "pooled" in r)
    assert recipe_view.noise_note(comparison) in texts(at)
    metrics_file = REPO / "assets" / "metrics" / "test_metrics.json"
    if metrics_file.is_file():
        evaluated = sorted(json.loads(metrics_file.read_text())["models"])
        table = next(d.value for d in at.dataframe if "accuracy" in d.value.columns)
        assert sorted(table["model"]) == evaluated
        kinds = [s["layout"].get("title", {}).get("text", "") for s in plotly_specs(at)]
        assert any(k.startswith("ROC") for k in kinds) and any(k.startswith("Precision") for k in kinds)
        assert sum(k.startswith(tuple(evaluated)) for k in kinds) >= len(evaluated)
    else:
        assert "test_metrics.json" in texts(at)


def test_performance_cross_validation_view_beside_the_fixed_test_split(no_dataset: None, model_ids: list[str]) -> None:
    at = open_page("pages/performance.py")
    assert not at.exception, [e.value for e in at.exception]
    picker = at.multiselect(key="performance_models")
    picker.set_value(picker.options)  # every report, the ablations too
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    headers = [h.value for h in at.header]
    assert headers.index("Cross-validation (every patient held out once)") < headers.index("Fixed test split (5 patients)")
    validated = [c for c in list_shipped_models() if c.cross_validation]
    assert validated, "no shipped model carries a cross-validation estimate"
    tables = [d.value for d in at.dataframe if "ROC AUC [95 % CI]" in d.value.columns]
    # one table per shipped model's CV report, then one per ablation report (a recipe not shipped)
    reports = cv_view.load_reports([*list_shipped_models(), *list_shipped_ensembles(model_ids)])
    assert len(tables) == len(reports) >= len(validated)
    by_model = {t.iloc[0]["scored by"].removesuffix(" (model)"): t for t in tables}
    assert set(by_model) == set(reports)
    for card in validated:
        table = by_model[card.model_id]
        assert table.iloc[0]["ROC AUC [95 % CI]"].startswith(f"{card.cross_validation['roc_auc']['value']:.3f}")
    for table in tables:
        assert any("baseline: reference liver pixels" in row for row in table["scored by"])
    # An ensemble's report shows its paired difference to each member instead of lesion detection.
    ensembles = list_shipped_ensembles(model_ids)
    differences = [d.value for d in at.dataframe if "ensemble - member" in d.value.columns]
    assert len(differences) == len(ensembles)
    for ensemble, table in zip(ensembles, differences):
        assert set(table["member"]) == set(ensemble.members)
    # Reports that carry it (the shipped detectors' and the combined call's) show where the tumour
    # lies outside the liver; every tumour slice falls in one bin.
    shares = [d.value for d in at.dataframe if "liver share" in d.value.columns]
    assert len(shares) == sum(bool(r.get("detection_by_liver_share")) for r in reports.values()) >= 2
    assert {int(t["tumour slices"].sum()) for t in shares} == {
        r["n_tumour_slices"] for r in reports.values() if r.get("detection_by_liver_share")}
    # ... and how faint the missed lesions are: every tumour slice with a measurable lesion, once.
    faint = [d.value for d in at.dataframe if "lesion contrast" in d.value.columns]
    carrying = [r for r in reports.values() if r.get("detection_by_lesion_contrast")]
    assert len(faint) == len(carrying) >= 2
    assert [int(t["tumour slices"].sum()) for t in faint] == [
        r["n_tumour_slices"] - r["detection_by_lesion_contrast"]["unmeasured_tumour_slices"] for r in carrying]
    assert all(t["lesion contrast"].iloc[0] == "< 10 HU darker" for t in faint)
    # Tumour-free slices called tumour, per patient, for every report with per-slice scores.
    from liver_model.detection_bins import flagged_normals

    alarms = [d.value for d in at.dataframe if "called tumour" in d.value.columns]
    with_slices = [r for r in reports.values() if r.get("slices")]
    assert len(alarms) == len(with_slices)
    assert [int(t["called tumour"].sum()) for t in alarms] == [
        sum(row["flagged"] for row in flagged_normals(r)) for r in with_slices]
    titles = [s["layout"].get("title", {}).get("text", "") for s in plotly_specs(at)]
    assert sum("ROC AUC per patient" in t for t in titles) == len(reports)
    assert any(t.startswith("Dice on tumour slices") for t in titles)
    assert any(t.startswith("Calibration (cross-validated)") for t in titles)


def test_teaching_gallery_mask_and_guided_explanation(monkeypatch: pytest.MonkeyPatch, datasets_dir: Path,
                                                      model_ids: list[str], segmentation_ids: list[str]) -> None:
    monkeypatch.setenv("LIVERLENS_DATA_DIR", str(datasets_dir))
    at = open_page("pages/teaching.py")
    assert not at.exception
    study_a_lits_tumour_slice(at)
    at.toggle(key="teaching_mask").set_value(True)
    at.radio[0].set_value("tumour")
    at.run()
    shown = texts(at)
    assert "Ground truth: **tumour**" in shown
    # Synthetic lesions drawn into this slice, each labelled as such.
    assert "Synthetic lesions (training augmentation)" in [e.label for e in at.expander]
    assert sum(c.startswith("SYNTHETIC lesion #") for i in at.get("image") for c in i.captions) == 3
    assert "hottest point" in shown and "chance" in shown
    # The study opens on the model whose Grad-CAM hit the tumour most often on the test patients.
    report = json.loads((REPO / "assets" / "metrics" / "explanation_quality.json").read_text())
    pointing = {m: r["gradcam"]["metrics"]["pointing_tumour"]["mean"]
                for m, r in report["models"].items() if m in model_ids}
    assert at.selectbox(key="teaching_model").value.model_id == max(pointing, key=pointing.get)
    # A segmentation model's own outline next to the reference mask, with this slice's Dice.
    chooser = at.selectbox(key="teaching_model")
    chooser.select_index(list(chooser.options).index(segmentation_ids[0]))
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    titles = [s["layout"].get("title", {}).get("text", "") for s in plotly_specs(at)]
    assert "Reference (expert) mask" in titles and f"{segmentation_ids[0]}: own outline" in titles
    assert "Dice on this slice: tumour" in texts(at)


@pytest.fixture(scope="module")
def nifti_volume(tmp_path_factory: pytest.TempPathFactory, dicom_series: list[tuple[str, bytes]]) -> tuple[str, bytes]:
    """A NIfTI volume made (in a temp folder, never committed) from the IRCAD DICOM HU slices."""
    import nibabel as nib

    from liver_model.io import load_slices

    hu = [load_slices(data, name)[0] for name, data in dicom_series]
    hu.sort(key=lambda ct: ct.index)
    volume = np.stack([ct.hu for ct in hu], axis=-1).astype(np.int16)  # LiTS layout: volume[:, :, k]
    path = tmp_path_factory.mktemp("nifti") / "ircad7_subset.nii.gz"
    nib.save(nib.Nifti1Image(volume, np.eye(4)), path)
    return path.name, path.read_bytes()


def test_volume_reads_a_nifti_volume(no_dataset: None, model_ids: list[str], nifti_volume: tuple[str, bytes],
                                     dicom_series: list[tuple[str, bytes]]) -> None:
    at = open_page("pages/volume.py")
    at.file_uploader[0].set_value((nifti_volume[0], nifti_volume[1], "application/gzip"))
    at.run()
    assert not at.exception and not at.error, [e.value for e in (*at.exception, *at.error)]
    spec = plotly_specs(at)[0]
    assert sorted(t["name"] for t in spec["data"]) == sorted(model_ids + combined_calls(model_ids))
    assert all(trace_values(t["y"]).shape == (len(dicom_series),) for t in spec["data"])


def test_explanations_and_predictions_are_cached_not_recomputed(no_dataset: None, model_ids: list[str],
                                                                lits_manifest: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """Toggling a method back on and moving the opacity slider reuse cached results.

    Counts the calls that reach ``liver_model`` (no timing): a cache keyed by file hash, slice,
    method and parameters must answer the repeated requests.
    """
    import liver_model.explain as explain_pkg
    from dashboard import warmup
    from liver_model.zoo import LoadedModel

    warmup.start()  # the app's warm-up predicts and explains too: let it finish before counting
    warmup.WARMUP.wait(TIMEOUT)
    calls = {"explain": 0, "predict": 0}
    real_explain, real_predict = explain_pkg.explain, LoadedModel.predict

    def counting_explain(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        calls["explain"] += 1
        return real_explain(*args, **kwargs)

    def counting_predict(self, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
        calls["predict"] += 1
        return real_predict(self, *args, **kwargs)

    monkeypatch.setattr(explain_pkg, "explain", counting_explain)
    monkeypatch.setattr(LoadedModel, "predict", counting_predict)
    frame = read_manifest(lits_manifest)
    # A slice no other test uploads, so nothing about it is cached yet.
    row = frame[frame["y"] == 1].sort_values("path").iloc[7]
    at = open_page("pages/diagnose.py")
    at.file_uploader[0].set_value((Path(row["path"]).name, Path(row["path"]).read_bytes(), "image/jpeg"))
    at.run()
    assert not at.exception
    # Grad-CAM is on by default. One prediction per model gives its p, its flipped copies and its
    # maps; the liver view's box comes from its locator's same (cached) prediction, not a rerun.
    assert calls == {"explain": len(model_ids), "predict": len(model_ids)}
    toggle = at.toggle(key="diagnose_explain_on_gradcam++")
    toggle.set_value(True)
    at.run()
    assert calls["explain"] == 2 * len(model_ids)
    at.toggle(key="diagnose_explain_on_gradcam++").set_value(False)
    at.run()
    at.toggle(key="diagnose_explain_on_gradcam++").set_value(True)
    at.slider(key="diagnose_explain_opacity").set_value(0.8)
    at.run()
    assert not at.exception
    assert calls == {"explain": 2 * len(model_ids), "predict": len(model_ids)}
    assert len(plotly_specs(at)) == 1 + 2 * len(model_ids)


def test_streamlit_no_longer_clears_the_keras_session_between_runs() -> None:
    """Streamlit's per-run cleanup calls ``keras.backend.clear_session()``, which clears
    TensorFlow's kernel cache (every run re-instantiated every model) and Keras' name counters
    (explainer sub-models then reused names). The entry script replaces that cleanup."""
    import keras
    from streamlit.runtime.scriptrunner import script_runner

    from dashboard import tf_runtime

    tf_runtime.keep_tensorflow_warm()
    first = keras.layers.Dense(1).name
    script_runner._clean_problem_modules()
    second = keras.layers.Dense(1).name
    assert first != second  # the counter survived: no clear_session() happened
