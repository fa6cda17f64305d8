"""``python -m liver_model info`` reports counts per label, split and patient of a real manifest."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent


def _info(*args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "liver_model", "info", *args],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_info_counts_labels_splits_and_patients(lits_manifest):
    out = _info("--manifest", str(lits_manifest))
    assert "1158 slices, 28 patients" in out
    label_rows = dict(
        line.split()[:2]
        for line in out.split("-- per label --")[1].split("-- per split")[0].splitlines()
        if line.startswith(("normal", "tumour"))
    )
    assert label_rows == {"normal": "642", "tumour": "516"}
    split_section = out.split("-- per split --")[1].split("-- per patient")[0]
    slices_per_split = {
        line.split()[0]: int(line.split()[1])
        for line in split_section.splitlines()
        if line.split() and line.split()[0] in ("train", "val", "test", "unassigned")
    }
    assert sum(slices_per_split.values()) == 1158 and set(slices_per_split) == {
        "train",
        "val",
        "test",
    }
    assert out.count("lits-") >= 28


def test_info_marks_patients_without_a_split_file_unassigned_and_takes_an_explicit_split(
    ircadb_manifest, tmp_path
):
    empty_splits = tmp_path / "splits"
    empty_splits.mkdir()
    assert "unassigned" in _info(
        "--manifest", str(ircadb_manifest), "--splits-dir", str(empty_splits)
    )
    (empty_splits / "other.json").write_text(json.dumps({"patients": {"lits-034": "test"}}))
    out = _info("--manifest", str(ircadb_manifest), "--split", str(empty_splits / "other.json"))
    assert "unassigned" not in out and "test" in out.split("-- per split --")[1]
