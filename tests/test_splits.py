"""Patient-level split: disjoint by patient, stratified, deterministic, and the shipped file is current."""
from __future__ import annotations

import pandas as pd
import pytest

from liver_model.manifest import dataset_name, read_manifest
from liver_model.splits import (DEFAULT_FRACTIONS, DEFAULT_SEED, SPLITS, apply_split, load_split,
                                make_patient_split, split_for_manifest, split_path)


@pytest.fixture(scope="module")
def lits(lits_manifest) -> pd.DataFrame:
    return read_manifest(lits_manifest)


def test_every_patient_in_exactly_one_split_and_each_split_has_tumours(lits):
    split = make_patient_split(lits)
    assert set(split) == set(lits["patient_id"])
    frame = apply_split(lits, split)
    per_patient = frame.groupby("patient_id")["split"].nunique()
    assert (per_patient == 1).all(), "a patient's slices landed in two splits"
    for name in SPLITS:
        part = frame[frame["split"] == name]
        assert part["y"].sum() > 0, f"{name} split has no tumour slice"
        assert part["patient_id"].nunique() >= 1
    patients = {name: set(frame.loc[frame["split"] == name, "patient_id"]) for name in SPLITS}
    assert not patients["train"] & patients["val"]
    assert not patients["train"] & patients["test"]
    assert not patients["val"] & patients["test"]


def test_split_is_deterministic_and_independent_of_row_order(lits):
    shuffled = lits.sample(frac=1.0, random_state=3)
    assert make_patient_split(lits) == make_patient_split(shuffled)
    assert make_patient_split(lits, seed=1) != make_patient_split(lits, seed=2)


def test_shipped_split_file_matches_the_code(lits, lits_manifest):
    """Training, evaluation and the app read this file; it must be what the code produces."""
    shipped = load_split(split_path(dataset_name(lits_manifest)))
    assert shipped == make_patient_split(lits, seed=DEFAULT_SEED, fractions=DEFAULT_FRACTIONS)


def test_ircadb_sample_takes_the_split_of_the_same_lits_patient(ircadb_manifest, lits_manifest):
    """IRCAD patient 7 is LiTS volume 34: both datasets must put it in the same split."""
    ircadb = split_for_manifest(read_manifest(ircadb_manifest), dataset_name(ircadb_manifest))
    shipped = load_split(split_path(dataset_name(lits_manifest)))
    assert set(ircadb["split"]) == {shipped["lits-034"]}


def test_unknown_patients_are_unassigned(lits):
    frame = apply_split(lits, {"lits-000": "train"})
    assert set(frame.loc[frame["patient_id"] != "lits-000", "split"]) == {"unassigned"}
