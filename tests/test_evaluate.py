"""The evaluate command's JSON: every field, metrics equal to scikit-learn's, one-class sets."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from sklearn import metrics as skm

from liver_model.__main__ import main
from liver_model.manifest import read_manifest

MODEL = "mobilenet_v3_small_unet"
FIELDS = ("n", "accuracy", "sensitivity", "specificity", "precision", "f1", "roc_auc", "pr_auc",
          "brier", "confusion_matrix", "threshold", "probabilities", "curves")


@pytest.fixture(scope="module")
def test_split_report(lits_manifest: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    out = tmp_path_factory.mktemp("eval") / "test.json"
    assert main(["evaluate", "--manifest", str(lits_manifest), "--out", str(out),
                 "--models", MODEL]) == 0
    return json.loads(out.read_text())


def test_report_has_all_fields(test_split_report: dict) -> None:
    assert test_split_report["split"] == "test" and test_split_report["dataset"] == "lits_windowed_jpg"
    result = test_split_report["models"][MODEL]
    for field in FIELDS:
        assert field in result, field
    assert result["n"] == test_split_report["n_slices"] == len(result["probabilities"])
    assert result["curves"]["roc"] is not None and len(result["curves"]["calibration"]) == 10


def test_per_patient_auc_agrees_with_sklearn(test_split_report: dict, lits_manifest: Path) -> None:
    result = test_split_report["models"][MODEL]
    frame = read_manifest(lits_manifest)
    root = lits_manifest.parent
    rows = {str(Path(p).relative_to(root)): (y, pid)
            for p, y, pid in zip(frame["path"], frame["y"], frame["patient_id"])}
    assert set(result["per_patient"]) == set(test_split_report["patients"])
    for patient, own in result["per_patient"].items():
        paths = [k for k in result["probabilities"] if rows[k][1] == patient]
        y = np.array([rows[k][0] for k in paths])
        p = np.array([result["probabilities"][k] for k in paths])
        assert own["n"] == len(paths) and own["n_tumour"] == int(y.sum())
        if 0 < y.sum() < len(y):
            assert own["roc_auc"] == pytest.approx(skm.roc_auc_score(y, p), abs=1e-4)
        else:
            assert own["roc_auc"] is None and "roc_auc" in own["undefined"]


def test_metrics_agree_with_sklearn(test_split_report: dict, lits_manifest: Path) -> None:
    result = test_split_report["models"][MODEL]
    frame = read_manifest(lits_manifest)
    root = lits_manifest.parent
    labels = {str(Path(p).relative_to(root)): y for p, y in zip(frame["path"], frame["y"])}
    paths = list(result["probabilities"])
    y = np.array([labels[p] for p in paths])
    p = np.array([result["probabilities"][k] for k in paths])
    predicted = p >= result["threshold"]
    tn, fp, fn, tp = skm.confusion_matrix(y, predicted).ravel()
    assert result["confusion_matrix"] == [[tn, fp], [fn, tp]]
    assert result["accuracy"] == pytest.approx(skm.accuracy_score(y, predicted))
    assert result["sensitivity"] == pytest.approx(skm.recall_score(y, predicted))
    assert result["specificity"] == pytest.approx(tn / (tn + fp))
    assert result["precision"] == pytest.approx(skm.precision_score(y, predicted, zero_division=0))
    assert result["f1"] == pytest.approx(skm.f1_score(y, predicted))
    # Probabilities are rounded to 6 decimals in the JSON; AUCs barely move.
    assert result["roc_auc"] == pytest.approx(skm.roc_auc_score(y, p), abs=1e-4)
    assert result["pr_auc"] == pytest.approx(skm.average_precision_score(y, p), abs=1e-4)
    assert result["brier"] == pytest.approx(skm.brier_score_loss(y, p), abs=1e-5)


def split_of(patient: str) -> str:
    path = Path(__file__).resolve().parent.parent / "assets" / "splits" / "lits_windowed_jpg.json"
    return json.loads(path.read_text())["patients"][patient]


def test_test_split_holds_only_test_patients(test_split_report: dict) -> None:
    split = json.loads((Path(__file__).resolve().parent.parent / "assets" / "splits"
                        / "lits_windowed_jpg.json").read_text())["patients"]
    assert {split[p] for p in test_split_report["patients"]} == {"test"}
    assert test_split_report["seen_in_training"] == []


def test_dicom_one_class_manifest_gives_null_auc(ircadb_manifest: Path, tmp_path: Path) -> None:
    out = tmp_path / "ircadb.json"
    assert main(["evaluate", "--manifest", str(ircadb_manifest), "--out", str(out),
                 "--models", MODEL, "--split", "all"]) == 0
    report = json.loads(out.read_text())
    result = report["models"][MODEL]
    # IRCAD patient 7 is LiTS volume 34: its split comes from the LiTS split file.
    assert report["patient_splits"] == {"lits-034": split_of("lits-034")}
    assert result["n"] == 24 and result["n_tumour"] == 0
    assert result["roc_auc"] is None and "one class" in result["undefined"]["roc_auc"]
    assert result["specificity"] is not None
    assert all(k.startswith("dicom/") and k.endswith(".dcm") for k in result["probabilities"])
