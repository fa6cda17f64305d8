"""Every ablation report paired against the shipped recipe it changes: the comparison module on
the real reports, the shipped comparison file kept in step with them, and the Performance table."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from dashboard import recipe_view
from liver_model.paths import METRICS_DIR
from liver_model.recipe_comparison import (COMPARISON_FILE, compare_with_shipped, shipped_report_paths,
                                           write_comparison)
from liver_model.training.recipe import changed_settings, with_defaults


def _report(name: str) -> dict:
    return json.loads((METRICS_DIR / f"cv_{name}.json").read_text())


def test_changed_settings_names_only_real_changes() -> None:
    old = {"epochs": 8, "seed": 42}  # predates every later setting: reads as their defaults
    assert changed_settings(old, {"epochs": 8, "seed": 43, "synthetic_contrast_min_hu": 20.0}) == ["seed: 42 -> 43"]
    assert changed_settings(old, {"epochs": 12, "seed": 42, "zoom_jitter": 0.15}) == [
        "epochs: 8 -> 12", "zoom_jitter: 0.0 -> 0.15"]
    assert changed_settings(None, None) == []


def test_each_ablation_is_paired_with_the_shipped_report_of_its_architecture_and_view() -> None:
    shipped = {"efficientnet_lite0_unet": _report("efficientnet_lite0_unet"),
               "efficientnet_lite0_unet_liver": _report("efficientnet_lite0_unet_liver"),
               "lite0_two_views": _report("lite0_two_views")}
    other_folds = {**_report("efficientnetv2_b0_unet"), "architecture": "efficientnet_lite0_unet"}
    rows = {r["recipe"]: r for r in compare_with_shipped(shipped, {
        "seed_43": _report("efficientnet_lite0_unet_seed_43"),
        "liver_224": _report("efficientnet_lite0_unet_liver_224"),
        "mobilenet": _report("mobilenet_v3_small_unet"),
        "three_folds": other_folds}, resamples=60)}
    seed = rows["seed_43"]  # no formerly shipped report given: against the shipped one
    assert seed["compared_with"] == "efficientnet_lite0_unet"
    assert "seed: 42 -> 43" in seed["changed"] and "size: 256 -> 192" in seed["changed"]
    auc = seed["pooled"]["roc_auc"]
    assert auc["a"] == pytest.approx(shipped["efficientnet_lite0_unet"]["pooled"]["roc_auc"]["value"], abs=1e-3)
    assert auc["b"] == pytest.approx(_report("efficientnet_lite0_unet_seed_43")["pooled"]["roc_auc"]["value"], abs=1e-3)
    assert auc["ci95_low"] <= auc["difference"] <= auc["ci95_high"]
    assert rows["liver_224"]["compared_with"] == "efficientnet_lite0_unet_liver"
    assert "size: 192 -> 224" in rows["liver_224"]["changed"]
    # Its held-out boxes came from another locator run, by the older box rule, than the shipped
    # liver view's: both named.
    assert any(c.startswith("locator: ") for c in rows["liver_224"]["changed"])
    assert "liver-view box rule: version 2 -> 1" in rows["liver_224"]["changed"]
    assert not any(c.startswith("locator: ") for c in seed["changed"])  # body views have none
    assert rows["mobilenet"]["reason"] == "no shipped model of this architecture and view"
    assert "pooled" not in rows["three_folds"] and "fold" in rows["three_folds"]["reason"]


def test_a_one_step_architecture_variant_is_paired_with_its_base_and_says_so() -> None:
    """A report of ``efficientnet_lite0_unet_local_contrast`` (the registry names it a variant of
    the Lite0 U-Net) is a recipe change of the shipped liver view, not a model without a baseline."""
    shipped = {"efficientnet_lite0_unet_liver": _report("efficientnet_lite0_unet_liver")}
    variant = {**_report("efficientnet_lite0_unet_liver_seed_43"),
               "architecture": "efficientnet_lite0_unet_local_contrast"}
    row = compare_with_shipped(shipped, {"variant": variant}, resamples=60)[0]
    assert row["compared_with"] == "efficientnet_lite0_unet_liver"
    assert row["changed"][0] == "architecture: 'efficientnet_lite0_unet' -> 'efficientnet_lite0_unet_local_contrast'"
    assert "seed: 42 -> 43" in row["changed"]


def test_an_ablation_is_paired_with_the_formerly_shipped_recipe_it_changes() -> None:
    """The 192 px recipe, shipped until the 256 px one replaced it, is the baseline of the
    ablations measured against it (fewer changed settings), and is itself compared with the
    shipped recipe; an unmarked ablation never serves as a baseline."""
    shipped = {"efficientnet_lite0_unet": _report("efficientnet_lite0_unet")}
    former = _report("efficientnet_lite0_unet_192")
    assert former["shipped_until"]
    ablations = {"efficientnet_lite0_unet_192": former,
                 "seed_43": _report("efficientnet_lite0_unet_seed_43"),
                 "no_synthetic": _report("efficientnet_lite0_unet_no_synthetic")}
    rows = {r["recipe"]: r for r in compare_with_shipped(shipped, ablations, resamples=60)}
    assert rows["efficientnet_lite0_unet_192"]["compared_with"] == "efficientnet_lite0_unet"
    assert rows["efficientnet_lite0_unet_192"]["changed"] == ["size: 256 -> 192"]
    assert rows["seed_43"]["compared_with"] == "efficientnet_lite0_unet_192"
    assert rows["seed_43"]["changed"] == ["seed: 42 -> 43"]
    assert rows["seed_43"]["pooled"]["roc_auc"]["a"] == pytest.approx(former["pooled"]["roc_auc"]["value"], abs=1e-3)
    assert rows["no_synthetic"]["compared_with"] == "efficientnet_lite0_unet_192"
    unmarked = {**ablations, "efficientnet_lite0_unet_192": {k: v for k, v in former.items() if k != "shipped_until"}}
    rows = {r["recipe"]: r for r in compare_with_shipped(shipped, unmarked, resamples=60)}
    assert {r["compared_with"] for r in rows.values()} == {"efficientnet_lite0_unet"}


def test_the_shipped_comparison_file_is_in_step_with_the_reports(tmp_path: Path) -> None:
    """Every report no card names has a row whose numbers are those reports' pooled values: a new
    or re-run CV without ``recipe-comparison`` fails here."""
    shipped = shipped_report_paths(METRICS_DIR)
    named = {p.resolve() for p in shipped.values()}
    ablations = {p.stem.removeprefix("cv_") for p in METRICS_DIR.glob("cv_*.json") if p.resolve() not in named
                 and with_defaults(json.loads(p.read_text())["config"])["train_patient_fraction"] == 1}
    comparison = json.loads((METRICS_DIR / COMPARISON_FILE).read_text())
    rows = {r["recipe"]: r for r in comparison["rows"]}
    assert set(rows) == ablations and len(ablations) >= 10
    for name, row in rows.items():
        auc = row["pooled"]["roc_auc"]
        assert auc["a"] == pytest.approx(_report(row["compared_with"])["pooled"]["roc_auc"]["value"], abs=1e-3), name
        assert auc["b"] == pytest.approx(_report(name)["pooled"]["roc_auc"]["value"], abs=1e-3), name
    # The writer reproduces a row from the files (few resamples: the point values do not depend on them).
    one = tmp_path / "metrics"
    one.mkdir()
    for name in ("efficientnet_lite0_unet", "efficientnet_lite0_unet_seed_43"):
        (one / f"cv_{name}.json").write_text((METRICS_DIR / f"cv_{name}.json").read_text())
    # A learning-curve point (trained on half the patients on purpose) is not a recipe row.
    half = {**_report("efficientnet_lite0_unet_seed_43"), "config": {
        **_report("efficientnet_lite0_unet_seed_43")["config"], "train_patient_fraction": 0.5}}
    (one / "cv_efficientnet_lite0_unet_patients_50.json").write_text(json.dumps(half))
    written = write_comparison(one, {"efficientnet_lite0_unet": one / "cv_efficientnet_lite0_unet.json"},
                               tmp_path / "out.json", resamples=30)
    assert [r["recipe"] for r in written] == ["efficientnet_lite0_unet_seed_43"]
    assert written[0]["pooled"]["roc_auc"]["b"] == pytest.approx(rows["efficientnet_lite0_unet_seed_43"]["pooled"]["roc_auc"]["b"])


def test_recipe_table_sorts_by_difference_and_names_the_seed_noise() -> None:
    comparison = recipe_view.load_comparison()
    table = recipe_view.recipe_table(comparison)
    paired = [r for r in comparison["rows"] if "pooled" in r]
    assert len(table) == len(paired) and list(table.columns) == recipe_view.COLUMNS
    differences = [float(v.split()[0]) for v in table["ROC AUC difference [95 % CI]"]]
    assert differences == sorted(differences, reverse=True)
    reseeds = table[table["what it changes"] == "seed: 42 -> 43"]
    assert {"efficientnet_lite0_unet_seed_43", "efficientnet_lite0_unet_liver_seed_43"} <= set(reseeds["recipe"])
    note = recipe_view.noise_note(comparison)
    assert note and all(d in note for d in reseeds["ROC AUC difference [95 % CI]"])
    assert recipe_view.noise_note({"rows": [r for r in paired if r["changed"] != ["seed: 42 -> 43"]]}) is None
