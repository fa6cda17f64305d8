"""Case reports: no patient data leaves, and the PDF says what the JSON says.

The PHI test fills every identifying DICOM tag of a real slice with a unique marker, runs
``python -m liver_model report`` on it and searches the PDF (raw and decompressed), the JSON,
the console output and the log records for the markers. Models are picked from the shipped ones
by what they can do (one with a tumour map, one label-only), never by id.
"""
from __future__ import annotations

import io
import json
import logging
import re
import warnings
import zlib
from pathlib import Path

import numpy as np
import pydicom
from pydicom.dataelem import DataElement
import pytest
from pypdf import PdfReader

from liver_model.__main__ import main
from liver_model.io import load_slice
from liver_model.manifest import read_manifest
from liver_model.masks import load_label_mask
from liver_model.measurements import measure_slice
from liver_model.registry import get_architecture
from liver_model.report import DISCLAIMER, build_slice_report, render_pdf, report_dict
from liver_model.report.pdf import latin1
from liver_model.zoo import list_shipped_models, load_model

PHI = {
    "PatientName": "ZQXNAME^MARKERPHI",
    "PatientID": "ZQXPATIENTID7731",
    "PatientBirthDate": "19230405",
    "OtherPatientIDs": "ZQXOTHERID5519",
    "PatientAddress": "ZQXPATIENTADDRESS",
    "AccessionNumber": "ZQXACC880231",
    "InstitutionName": "ZQXINSTITUTION",
    "InstitutionAddress": "ZQXINSTADDRESS",
    "ReferringPhysicianName": "ZQXREFERRER^DOC",
    "StudyDate": "19470912",
    "SeriesDate": "19470913",
    "AcquisitionDate": "19470914",
    "ContentDate": "19470915",
    "StudyID": "ZQXSTUDYID",
    "StudyDescription": "ZQXSTUDYDESC",
}
FILE_MARKER = "ZQXFILENAME"
BAD_DATE = "ZQXBADDATE"


def markers() -> list[str]:
    """Every marker, plus the dates as a report might format them."""
    out = [v.split("^")[0] for v in PHI.values()] + [FILE_MARKER, BAD_DATE]
    for value in PHI.values():
        if value.isdigit():
            out += [f"{value[:4]}-{value[4:6]}-{value[6:]}", f"{value[6:]}.{value[4:6]}.{value[:4]}"]
    return out


def pick_models() -> list[str]:
    """A shipped model with maps and, when one is shipped, a label-only model."""
    cards = list_shipped_models()
    with_maps = [c.model_id for c in cards if get_architecture(c.architecture).map_layer]
    label_only = [c.model_id for c in cards if not get_architecture(c.architecture).map_layer]
    if not with_maps:
        pytest.fail("No shipped model predicts a tumour map; the report tests need one.", pytrace=False)
    return with_maps[:1] + label_only[:1]


def pdf_payload(data: bytes) -> bytes:
    """The PDF bytes plus every stream decompressed (text is deflated in a normal PDF)."""
    parts = [data]
    for match in re.finditer(rb"stream\r?\n(.*?)\r?\nendstream", data, re.S):
        try:
            parts.append(zlib.decompress(match.group(1)))
        except zlib.error:
            continue
    return b"\n".join(parts)


def flat(text: str) -> str:
    return " ".join(text.split())


@pytest.fixture(scope="module")
def phi_dicom(ircadb_manifest: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    frame = read_manifest(ircadb_manifest)
    row = frame.loc[frame["liver_pixels"].astype(int).idxmax()]
    ds = pydicom.dcmread(row["path"])
    for keyword, value in PHI.items():
        setattr(ds, keyword, value)
    path = tmp_path_factory.mktemp("phi") / f"{FILE_MARKER}_slice.dcm"
    # A malformed date as real exports have: pydicom warns with the value if anything parses it.
    ds[0x00080023] = DataElement(0x00080023, "DA", BAD_DATE,  # ContentDate, replacing its marker
                                 validation_mode=pydicom.config.IGNORE)
    ds.save_as(path)
    data = path.read_bytes()
    assert all(m.encode() in data for m in markers()[:len(PHI)] if m != "19470915")  # it can fail
    assert BAD_DATE.encode() in data
    return path


def test_dicom_report_carries_no_patient_data_and_shows_every_model(phi_dicom, tmp_path, capsys, caplog):
    models = pick_models()
    out, out_json = tmp_path / "report.pdf", tmp_path / "report.json"
    with caplog.at_level(logging.DEBUG), warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        code = main(["report", str(phi_dicom), "--out", str(out), "--json", str(out_json),
                     "--models", *models, "--methods", "gradcam"])
    assert code == 0
    console = capsys.readouterr()
    pdf = out.read_bytes()
    searched = {
        "pdf": pdf_payload(pdf).decode("latin-1"),
        "json": out_json.read_text(encoding="utf-8"),
        "console": console.out + console.err,
        "log": caplog.text,
        "warnings": " ".join(str(w.message) for w in caught),
        "file names": " ".join(p.name for p in tmp_path.iterdir()),
    }
    leaks = [(where, m) for where, text in searched.items() for m in markers() if m in text]
    assert not leaks, leaks

    text = flat("\n".join(page.extract_text() for page in PdfReader(out).pages))
    content = json.loads(searched["json"])
    assert flat(latin1(content["findings"]["text"])) in text
    assert flat(latin1(DISCLAIMER)) in text
    for row in content["models"]:
        result = row["result"]
        call = "tumour" if result["calls_tumour"] else "no tumour"
        assert f"{row['model_id']} {result['probability']:.3f} {result['threshold']:.3f} {call}" in text
        assert row["weights_sha256"] in text.replace(" ", "")
    assert content["spacing_mm"] is not None and content["hu_calibrated"] is True
    assert "LI-RADS" in content["findings"]["text"]


def test_series_report_has_the_z_curve_and_top_slices_without_header_dates(datasets_dir, tmp_path):
    files = sorted((datasets_dir / "totalsegmentator_example_dicom" / "dicom").glob("*.dcm"))[:4]
    header = pydicom.dcmread(files[0], stop_before_pixels=True)
    private = [str(header.get(k, "")) for k in ("StudyDate", "InstitutionAddress", "AcquisitionDateTime")]
    private = [p for p in private if len(p) >= 6]
    assert private  # these files carry dates and an address (their README); none may leak
    out, out_json = tmp_path / "series.pdf", tmp_path / "series.json"
    models = pick_models()[:1]
    assert main(["report", *map(str, files), "--out", str(out), "--json", str(out_json),
                 "--models", *models, "--methods"]) == 0
    content = json.loads(out_json.read_text())
    assert content["n_slices"] == 4 and len(content["probabilities"][models[0]]) == 4
    assert len(content["top_positions"]) == 3 and len(content["top_slices"]) == 3
    top = content["top_slices"][0]
    assert top["slice_label"].startswith(f"slice {content['top_positions'][0] + 1} of 4")
    payload = pdf_payload(out.read_bytes()).decode("latin-1") + out_json.read_text()
    assert not [p for p in private if p in payload]
    assert len(PdfReader(out).pages) == 4  # chart page + one page per top slice


@pytest.fixture(scope="module")
def loaded_models():
    return [load_model(model_id) for model_id in pick_models()]


def test_reference_mask_is_measured_first_and_model_maps_after_it(lits_manifest, loaded_models):
    frame = read_manifest(lits_manifest)
    row = frame.loc[frame["tumour_pixels"].astype(int).idxmax()]
    ct, mask = load_slice(row["path"]), load_label_mask(row["mask_path"])
    report = build_slice_report(ct, loaded_models, slice_label="single slice", reference=mask,
                                methods=["gradcam"])
    reference = measure_slice(mask.tumour, mask.liver, source="reference mask",
                              liver_source="reference mask", body_rgb=ct.rgb)
    first = report.measurements[0]
    assert first.source == "reference mask" and len(first.lesions) == len(reference.lesions)
    assert first.lesions[0].long_axis == pytest.approx(reference.lesions[0].long_axis)
    assert [m.source for m in report.measurements[1:]] == [m.model_id for m in loaded_models
                                                          if m.has_maps]
    made = [o for o in report.overlays if o.image is not None]
    assert made and all(o.image.shape == (*ct.shape, 3) for o in made)
    assert all(o.mass_in_lesion is None or 0.0 <= o.mass_in_lesion <= 1.0 for o in made)
    content = report_dict(report)
    assert content["measurements"][0]["lesions"][0]["long_axis"] == pytest.approx(
        reference.lesions[0].long_axis)
    assert "image" not in content and np.isfinite(content["measurements"][0]["tumour_burden"])
    assert render_pdf(report).startswith(b"%PDF")


def test_cli_eight_bit_slice_with_its_reference_mask(lits_manifest, tmp_path):
    frame = read_manifest(lits_manifest)
    row = frame.loc[frame["tumour_pixels"].astype(int).idxmax()]
    out_json = tmp_path / "lits.json"
    assert main(["report", row["path"], "--mask", row["mask_path"], "--out", str(tmp_path / "lits.pdf"),
                 "--json", str(out_json), "--models", pick_models()[0], "--methods",
                 "--window", "soft_tissue"]) == 0
    content = json.loads(out_json.read_text())
    first = content["measurements"][0]
    assert first["source"] == "reference mask" and first["unit"] == "px" and len(first["lesions"]) >= 3
    assert content["hu_calibrated"] is False and "needs HU" in content["window"]
    text = content["findings"]["text"]
    assert "not HU-calibrated" in text and "sizes are given in pixels" in text


@pytest.mark.parametrize("extra, message", [
    (["--slice", "7"], "--slice 7 is out of range: the input has 1 slice(s)."),
    (["--mask", "MASK"], "The mask is 64 x 64 pixels but the slice is 512 x 512"),
])
def test_cli_bad_arguments_give_a_message_not_a_traceback(ircadb_manifest, tmp_path, capsys, extra, message):
    frame = read_manifest(ircadb_manifest)
    row = frame.iloc[0]
    if "MASK" in extra:  # a mask of another size than the slice
        small = tmp_path / "small_mask.png"
        from PIL import Image

        Image.fromarray(np.zeros((64, 64), np.uint8)).save(small)
        extra = ["--mask", str(small)]
    code = main(["report", row["path"], "--out", str(tmp_path / "x.pdf"), *extra])
    assert code == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "x.pdf").exists()


def test_cli_series_with_a_non_dicom_file_is_refused(ircadb_manifest, tmp_path, capsys):
    frame = read_manifest(ircadb_manifest)
    stray = tmp_path / "notes.txt"
    stray.write_text("not a slice")
    assert main(["report", frame.iloc[0]["path"], str(stray), "--out", str(tmp_path / "x.pdf")]) == 2
    assert "is not a DICOM file" in capsys.readouterr().err


def test_cli_nifti_volume_with_identifying_header_text(ircadb_manifest, tmp_path):
    """NIfTI headers have free-text fields (descrip, aux_file, db_name) that can hold a name."""
    import nibabel as nib

    frame = read_manifest(ircadb_manifest)
    rows = frame[frame["liver_pixels"].astype(int) > 0].head(3)
    volume = np.stack([load_slice(p).hu for p in rows["path"]], axis=-1).astype(np.int16)
    image = nib.Nifti1Image(volume, np.diag([0.78, 0.78, 1.6, 1.0]))
    image.header["descrip"] = b"ZQXNIFTIDESCRIP"
    image.header["aux_file"] = b"ZQXNIFTIAUX"
    image.header["db_name"] = b"ZQXNIFTIDB"
    path = tmp_path / "volume.nii.gz"
    nib.save(image, path)
    out, out_json = tmp_path / "vol.pdf", tmp_path / "vol.json"
    assert main(["report", str(path), "--out", str(out), "--json", str(out_json),
                 "--models", pick_models()[0], "--methods"]) == 0
    content = json.loads(out_json.read_text())
    assert content["n_slices"] == 3 and content["top_slices"][0]["spacing_mm"] == pytest.approx([0.78, 0.78])
    payload = pdf_payload(out.read_bytes()).decode("latin-1") + out_json.read_text()
    assert not [m for m in ("ZQXNIFTIDESCRIP", "ZQXNIFTIAUX", "ZQXNIFTIDB") if m in payload]


def test_expected_performance_prefers_cross_validation_then_test_then_validation():
    from dataclasses import replace

    from liver_model.report.provenance import expected_performance

    card = next(c for c in list_shipped_models() if c.test_metrics and c.validation_metrics)
    test = (card.test_metrics["sensitivity"], card.test_metrics["specificity"], "test patients")
    assert expected_performance(card) == test
    raw = {"cross_validation": {"at_threshold": {"sensitivity": 0.81, "specificity": 0.52}}}
    assert expected_performance(card, raw) == (0.81, 0.52, "cross-validation")
    assert expected_performance(card, {"cross_validation": {"folds": 5}})[2] == "test patients"
    no_test = replace(card, test_metrics=None)
    assert expected_performance(no_test)[2] == "validation patients"
    assert expected_performance(replace(no_test, validation_metrics={})) == (None, None, "not available")


def test_a_failing_explanation_is_reported_not_raised(ircadb_manifest, loaded_models):
    from liver_model.errors import ExplanationError

    def failing(model, prepared, method, params):
        raise ExplanationError("no spatial layer here")

    frame = read_manifest(ircadb_manifest)
    ct = load_slice(frame.iloc[0]["path"])  # a slice without liver
    report = build_slice_report(ct, loaded_models, slice_label="single slice", explainer=failing)
    assert {o.unavailable for o in report.overlays} == {"no spatial layer here"}
    assert "No LI-RADS category" in report.findings.text
    text = flat("\n".join(p.extract_text() for p in PdfReader(io.BytesIO(render_pdf(report))).pages))
    assert "no spatial layer here" in text


def test_compare_grid_png_has_one_cell_per_model_and_method(lits_manifest, loaded_models):
    from PIL import Image

    from liver_model.explain import explain
    from liver_model.explain.overlay import overlay_heatmap
    from liver_model.preprocessing import prepare
    from liver_model.report.figures import explanation_grid, png_bytes

    frame = read_manifest(lits_manifest)
    ct = load_slice(frame.loc[frame["tumour_pixels"].astype(int).idxmax()]["path"])
    ids = [m.model_id for m in loaded_models]
    images = {(m.model_id, "gradcam"): overlay_heatmap(
        ct.rgb, explain(m, prepare(ct, m.input_size), "gradcam").heatmap) for m in loaded_models}
    one = explanation_grid(images, ids[:1], {"gradcam": "Grad-CAM"})
    grid = explanation_grid(images, ids, {"gradcam": "Grad-CAM", "lime": "LIME"})  # LIME cells empty
    assert grid.ndim == 3 and grid.shape[2] == 3
    assert grid.shape[1] > 1.8 * one.shape[1] and (len(ids) == 1 or grid.shape[0] > 1.5 * one.shape[0])
    decoded = np.asarray(Image.open(io.BytesIO(png_bytes(grid))))
    assert np.array_equal(decoded, grid)


@pytest.mark.parametrize("space_left_mm", range(3, 16, 2))
def test_the_disclaimer_box_is_never_split_by_a_page_break(space_left_mm):
    from liver_model.report.pdf import _disclaimer, _Document

    pdf = _Document(format="A4")
    pdf.set_auto_page_break(True, margin=15)
    pdf.add_page()
    pdf.set_y(pdf.h - 15 - space_left_mm)
    _disclaimer(pdf, DISCLAIMER)
    pages = [flat(p.extract_text()) for p in PdfReader(io.BytesIO(bytes(pdf.output()))).pages]
    assert any(flat(DISCLAIMER) in page for page in pages), pages


def test_the_report_gives_the_combined_call_of_an_ensemble_whose_members_it_ran(lits_manifest):
    """The ensemble's call in the report is its rule applied to the members' p(tumour) listed
    beside it; without one of its members, the report gives no combined call."""
    from liver_model.ensemble import list_shipped_ensembles, probability

    ensemble = list_shipped_ensembles([c.model_id for c in list_shipped_models()])[0]
    models: dict = {}
    for member in ensemble.members:
        models[member] = load_model(member, load_locator=models.get)
    frame = read_manifest(lits_manifest)
    ct = load_slice(frame.loc[frame["tumour_pixels"].astype(int).idxmax(), "path"])
    report = build_slice_report(ct, list(models.values()), slice_label="single slice", methods=[],
                                ensembles=[ensemble])
    (combined,) = report.combined
    p = {r.model_id: r.result.probability for r in report.models}
    expected = probability(ensemble, {m: float(models[m].uncalibrated_score(p[m])) for m in ensemble.members})
    assert combined.model_id == f"{ensemble.ensemble_id} (combined call)"
    assert combined.probability == pytest.approx(expected)
    assert combined.threshold == ensemble.threshold
    assert combined.sensitivity == ensemble.cross_validation["at_threshold"]["sensitivity"]
    assert report_dict(report)["combined"][0]["calls_tumour"] == combined.calls_tumour
    text = "".join(page.extract_text() for page in PdfReader(io.BytesIO(render_pdf(report))).pages)
    assert ensemble.ensemble_id in text and f"{combined.probability:.3f}" in text
    # Each call carries where that model failed on unseen patients, as Diagnose shows it.
    from liver_model.card_files import cv_report_path
    from liver_model.weak_spots import weak_spots

    for row in report.models:
        expected_spots = weak_spots(json.loads(cv_report_path(models[row.model_id].card).read_text()))
        assert row.result.weak_spots == tuple(expected_spots) and len(expected_spots) >= 3
    assert combined.weak_spots == tuple(weak_spots(json.loads(cv_report_path(ensemble).read_text())))
    assert report_dict(report)["combined"][0]["weak_spots"] == list(combined.weak_spots)
    flat = re.sub(r"\s+", " ", text)
    assert "Where the models fail (cross-validated" in flat and "Faint lesions: it finds" in flat
    alone = build_slice_report(ct, [models[ensemble.members[0]]], slice_label="single slice",
                               methods=[], ensembles=[ensemble])
    assert alone.combined == ()


def test_a_slice_whose_flipped_copies_disagree_is_flagged_in_the_report(datasets_dir: Path):
    """On the IRCAD DICOMs of lits-034 (the renal/adrenal mass beside the liver), the slice where
    the body-crop detector's flipped copies spread most: the report lists the copies, its findings
    say not to rely on that call, and the combined call, which averages it in, carries the warning
    into the PDF. (The example CT from another scanner served here until the 256 px model, whose
    copies agree on it.)"""
    from liver_model.ensemble import list_shipped_ensembles
    from liver_model.io.loader import read_dicom_series

    ensemble = list_shipped_ensembles([c.model_id for c in list_shipped_models()])[0]
    models: dict = {}
    for member in ensemble.members:
        models[member] = load_model(member, load_locator=models.get)
    flipped = next(m for m in models.values() if m.card.test_time_flips > 1)
    files = sorted((datasets_dir / "ircadb_dicom_sample" / "dicom").glob("*.dcm"))
    series = read_dicom_series([f.read_bytes() for f in files])
    copies = flipped.predict(flipped.prepare_batch(series)).copies
    worst = int(np.argmax(np.ptp(copies, axis=1)))
    assert np.ptp(copies[worst]) >= 0.3, "the lits-034 series holds slices whose copies disagree"
    report = build_slice_report(series[worst], list(models.values()), slice_label="lits-034",
                                methods=[], ensembles=[ensemble])
    row = next(r.result for r in report.models if r.model_id == flipped.model_id)
    assert row.flipped_copies == pytest.approx(tuple(copies[worst]), abs=1e-5)
    assert row.orientation_warning and "do not rely on it" in row.orientation
    assert any(s.source == flipped.model_id and "orientation" in s.text for s in report.findings.sentences)
    (combined,) = report.combined
    assert combined.orientation_warning and flipped.model_id in combined.orientation
    as_json = {m["model_id"]: m["result"] for m in report_dict(report)["models"]}
    assert len(as_json[flipped.model_id]["flipped_copies"]) == 4
    text = " ".join(page.extract_text() for page in PdfReader(io.BytesIO(render_pdf(report))).pages)
    assert "flipped copies disagree" in re.sub(r"\s+", " ", text)
