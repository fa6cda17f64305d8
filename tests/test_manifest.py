"""Manifest reading works for any folder in the shared format and fails clearly otherwise."""
from __future__ import annotations

from pathlib import Path

import pytest

from liver_model.errors import ManifestError
from liver_model.manifest import read_manifest


def test_shared_manifests_resolve_paths_relative_to_their_folder(lits_manifest, ircadb_manifest):
    lits = read_manifest(lits_manifest)
    assert len(lits) == 1158
    assert lits["y"].sum() == 516
    assert all(Path(p).is_absolute() and Path(p).is_file() for p in lits["path"])
    assert all(Path(m).is_file() for m in lits["mask_path"])
    ircadb = read_manifest(ircadb_manifest)
    assert len(ircadb) == 24 and ircadb["y"].sum() == 0
    assert "tumour_pixels" in lits.columns, "extra columns are kept"


def test_any_folder_in_the_format_works(tmp_path, lits_manifest):
    """A manifest elsewhere, with only the required columns, pointing at files by relative path."""
    source = read_manifest(lits_manifest).iloc[:3]
    rows = ["path,label,mask_path,patient_id"]
    for _, row in source.iterrows():
        link = tmp_path / "imgs" / Path(row["path"]).name
        link.parent.mkdir(exist_ok=True)
        link.symlink_to(row["path"])
        rows.append(f"imgs/{link.name},{row['label'].upper()},,{row['patient_id']}")
    (tmp_path / "manifest.csv").write_text("\n".join(rows) + "\n")
    frame = read_manifest(tmp_path / "manifest.csv")
    assert list(frame["y"]) == list(source["y"])
    assert frame["mask_path"].isna().all()


@pytest.mark.parametrize("content, message", [
    ("path,label,patient_id\na.jpg,normal,p1\n", "lacks the column"),
    ("path,label,mask_path,patient_id\na.jpg,cyst,,p1\n", "unknown label"),
    ("path,label,mask_path,patient_id\nmissing.jpg,normal,,p1\n", "do not exist"),
])
def test_broken_manifests_raise_manifest_error(tmp_path, content, message):
    (tmp_path / "manifest.csv").write_text(content)
    with pytest.raises(ManifestError, match=message):
        read_manifest(tmp_path / "manifest.csv")


def test_missing_manifest_raises(tmp_path):
    with pytest.raises(ManifestError, match="not found"):
        read_manifest(tmp_path / "nope.csv")
