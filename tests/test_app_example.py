"""The app on a fresh install: the bundled example on Diagnose and Volume, and a ZIP of a study.

Runs the real pages headless with Streamlit's AppTest, like ``test_app_pages.py``; the ZIP is
built in the test from the bundled example's real files (a bone-kernel copy and a localiser).
"""
from __future__ import annotations

import io
import re
import zipfile
from pathlib import Path

import pydicom
import pytest
from streamlit.testing.v1 import AppTest

from dashboard.examples import EXAMPLE_DIR
from liver_model.flip_agreement import SPREAD_EDGES, read_out_of_fold
from liver_model.zoo import list_shipped_models
from test_app_pages import APP, TIMEOUT, combined_calls, open_page, plotly_specs, texts, trace_values


@pytest.fixture(scope="module")
def model_ids() -> list[str]:
    ids = [card.model_id for card in list_shipped_models()]
    if not ids:
        pytest.fail("No trained model is shipped in assets/models/; the dashboard tests need them.", pytrace=False)
    return ids


@pytest.fixture()
def no_dataset(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LIVERLENS_DATA_DIR", raising=False)


def _variant(path: Path, **tags: object) -> bytes:
    ds = pydicom.dcmread(path)
    for keyword, value in tags.items():
        setattr(ds, keyword, value)
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


def test_home_says_the_example_exists(no_dataset: None) -> None:
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.run()
    assert not at.exception and "Try the example" in texts(at)


def test_diagnose_example_predicts_with_every_model_and_credits_the_source(no_dataset: None,
                                                                           model_ids: list[str]) -> None:
    at = open_page("pages/diagnose.py")
    next(b for b in at.button if b.label == "Try the example").click()
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]
    shown = texts(at)
    assert "TotalSegmentator" in shown and "CC BY 4.0" in shown
    assert at.slider[0].max == 19 and at.slider[0].value == 10
    bars = [bar.proto.text for bar in at.get("progress")]
    assert sum(text.startswith("p(tumour) = ") for text in bars) == len(model_ids) + len(combined_calls(model_ids))
    titles = [s["layout"].get("title", {}).get("text", "") for s in plotly_specs(at)]
    assert sum(t.startswith(tuple(model_ids)) for t in titles) == len(model_ids), "one Grad-CAM per model"
    # Each flipped detector's copies are listed under its call, as a warning exactly when their
    # spread falls in the band where labelled calls were no better than a coin flip, and then the
    # combined call that averages that detector in says so too.
    warnings = [str(w.value) for w in at.warning]
    notes = [(str(e.value), kind == "warning") for kind in ("caption", "warning") for e in getattr(at, kind)
             if str(e.value).startswith("Flipped copies: as is")]
    assert len(notes) == sum(c.test_time_flips > 1 for c in list_shipped_models()) > 0
    for text, warned in notes:
        width = float(re.search(r"\(spread (\d\.\d\d)\)", text).group(1))
        disagree = width >= SPREAD_EDGES[-1]
        assert warned == disagree == ("do not rely on it" in text)
        assert disagree == any(w.startswith("Its member ") and "flipped copies disagree" in w for w in warnings)


def test_volume_example_plots_twenty_slices_per_model(no_dataset: None, model_ids: list[str]) -> None:
    at = open_page("pages/volume.py")
    next(b for b in at.button if b.label == "Try the example").click()
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    spec = plotly_specs(at)[0]
    assert sorted(trace["name"] for trace in spec["data"]) == sorted(model_ids + combined_calls(model_ids))
    assert all(trace_values(trace["y"]).shape == (20,) for trace in spec["data"])
    # Each flipped model's series note: a warning exactly when the series spreads more under flips
    # than any labelled patient did (outside validated ground), a caption otherwise.
    flipped = [c.model_id for c in list_shipped_models() if c.test_time_flips > 1]
    assert flipped
    for model_id in flipped:
        notes = [(str(e.value), kind) for kind in ("caption", "warning") for e in getattr(at, kind)
                 if str(e.value).startswith(f"{model_id}: the flipped copies disagree")]
        assert len(notes) == 1
        text, kind = notes[0]
        median = float(re.search(r"median spread is (\d\.\d\d)", text).group(1))
        outside = median > read_out_of_fold(model_id).patient_median_spread_max
        assert (kind == "warning") == outside == ("outside what the model was validated on" in text)


def test_a_zip_of_a_study_offers_its_axial_series_and_names_the_skipped(no_dataset: None) -> None:
    paths = sorted(EXAMPLE_DIR.glob("*.dcm"))
    packed = io.BytesIO()
    with zipfile.ZipFile(packed, "w") as archive:
        for path in paths:
            archive.writestr(f"DICOM/S1/{path.name}", path.read_bytes())
        for path in paths[:4]:
            archive.writestr(f"DICOM/S2/{path.name}", _variant(
                path, ConvolutionKernel="Br64f", SeriesDescription="CT Bone 3.0"))
        archive.writestr("DICOM/S3/IM1", _variant(
            paths[0], ImageType=["ORIGINAL", "PRIMARY", "LOCALIZER"], SeriesDescription="Topogram 0.6 T20s",
            ImageOrientationPatient=[1, 0, 0, 0, 0, -1]))
    at = open_page("pages/diagnose.py")
    at.file_uploader[0].set_value([("study.zip", packed.getvalue(), "application/zip")])
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    picker = at.selectbox(key="diagnose_upload_series")
    assert len(picker.options) == 2 and "CT Body 3.0" in picker.options[0]
    assert "Topogram 0.6 T20s" in texts(at) and "localiser" in texts(at)
    assert at.slider[0].max == 19
    picker.select_index(1).run()
    assert not at.exception and at.slider[0].max == 3, "the bone series, when picked"
