"""Time every explanation method on every shipped model, and print the explanation-quality table.

Usage: ``python scripts/benchmark_explanations.py [--data DIR] [--repeats N] [--models ...]
[--methods ...] [--presets fast thorough] [--quality assets/metrics/explanation_quality.json]``.

Runtime: the slice with the largest tumour among the test patients, prepared once; each
model x method x preset is run once to warm up (weights loaded, functions traced), then
``--repeats`` times; the median wall time of ``explain()`` is printed next to the issue's targets
(Grad-CAM < 0.5 s; LIME and SHAP fast < 10 s, thorough < 30 s, on the 2-core CPU). Quality: the
summary of ``python -m liver_model explain-eval`` (mean +- std over the test tumour slices).
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from liver_model.explain import METHODS, explain  # noqa: E402
from liver_model.io import load_slice  # noqa: E402
from liver_model.manifest import dataset_name, read_manifest  # noqa: E402
from liver_model.splits import split_for_manifest  # noqa: E402
from liver_model.zoo import list_shipped_models, load_model  # noqa: E402

TARGETS_S = {("gradcam", "fast"): 0.5, ("lime", "fast"): 10.0, ("shap", "fast"): 10.0,
             ("lime", "thorough"): 30.0, ("shap", "thorough"): 30.0}
QUALITY_COLUMNS = (("pointing_tumour", "point"), ("energy_tumour", "energy"),
                   ("pointing_liver", "pt-liver"), ("deletion_auc", "del AUC"),
                   ("insertion_auc", "ins AUC"), ("blank", "blank"))


def default_data_dir() -> Path:
    """``$LIVERLENS_DATA`` or ``<repo>/../shared/datasets`` (as the tests use)."""
    return Path(os.environ.get("LIVERLENS_DATA", REPO.parent / "shared" / "datasets"))


def largest_test_tumour(manifest: Path) -> str:
    """Path of the test-split slice with the most tumour pixels."""
    frame = split_for_manifest(read_manifest(manifest), dataset_name(manifest))
    test = frame[(frame["split"] == "test") & (frame["y"] == 1)]
    return str(test.loc[test["tumour_pixels"].astype(int).idxmax(), "path"])


def time_methods(model_ids: list[str], methods: list[str], presets: list[str], slice_path: str,
                 repeats: int) -> None:
    """Print the median warm runtime per model x method x preset."""
    ct = load_slice(slice_path)
    print(f"slice: {Path(slice_path).name}; median of {repeats} warm runs, seconds")
    print(f"{'model':<28} {'method':<11} {'preset':<9} {'median':>8} {'min':>8} {'target':>7}")
    for model_id in model_ids:
        model = load_model(model_id)
        prepared = model.prepare(ct)
        for method in methods:
            spec = METHODS[method]
            for preset in presets:
                if preset != "fast" and spec.presets[preset] == spec.presets["fast"]:
                    continue  # same parameters, same runtime
                explain(model, prepared, method, preset=preset)
                times = [explain(model, prepared, method, preset=preset).runtime_s
                         for _ in range(repeats)]
                target = TARGETS_S.get((method, preset))
                verdict = "" if target is None else (
                    f"<{target:g} " + ("ok" if statistics.median(times) < target else "MISS"))
                print(f"{model_id:<28} {method:<11} {preset:<9} {statistics.median(times):8.3f} "
                      f"{min(times):8.3f} {verdict:>7}", flush=True)


def print_quality(path: Path) -> None:
    """The explain-eval summary as a table: mean +- std per model x method."""
    if not path.is_file():
        print(f"\nno quality file at {path}; run python -m liver_model explain-eval first")
        return
    report = json.loads(path.read_text())
    print(f"\nexplanation quality: {report['n_slices']} tumour slices, split {report['split']} "
          f"of {report['dataset']}, preset {report['preset']}, tolerance "
          f"{report['tolerance_px']} px (mean +- std; randomisation = Spearman rho, lower is better)")
    header = "".join(f"{label:>14}" for _, label in QUALITY_COLUMNS)
    print(f"{'model':<28} {'method':<11}{header}{'random rho':>12}{'time s':>8}")
    for model_id, per_method in report["models"].items():
        for method, result in per_method.items():
            cells = "".join(f"{_cell(result['metrics'][key]):>14}" for key, _ in QUALITY_COLUMNS)
            rho = result["randomisation_rank_correlation"]["mean"]
            t = result["metrics"]["runtime_s"]["median"]
            print(f"{model_id:<28} {method:<11}{cells}{_num(rho):>12}{_num(t):>8}")
        chance = report["chance"][model_id]
        print(f"{model_id:<28} {'(uniform)':<11}{_cell(chance['chance_pointing_tumour']):>14}"
              f"{_cell(chance['chance_energy_tumour']):>14}"
              f"{_cell(chance['chance_pointing_liver']):>14}")


def _cell(stats: dict) -> str:
    if stats["mean"] is None:
        return "n/a"
    return f"{stats['mean']:.2f}+-{stats['std']:.2f}"


def _num(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=default_data_dir())
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--models", nargs="+", default=None)
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=list(METHODS))
    parser.add_argument("--presets", nargs="+", default=["fast", "thorough"],
                        choices=["fast", "thorough"])
    parser.add_argument("--quality", type=Path,
                        default=REPO / "assets" / "metrics" / "explanation_quality.json")
    parser.add_argument("--skip-timing", action="store_true", help="only print the quality table")
    args = parser.parse_args()
    if not args.skip_timing:
        model_ids = args.models or [card.model_id for card in list_shipped_models()]
        manifest = args.data / "lits_windowed_jpg" / "manifest.csv"
        time_methods(model_ids, args.methods, args.presets, largest_test_tumour(manifest),
                     args.repeats)
    print_quality(args.quality)
    return 0


if __name__ == "__main__":
    sys.exit(main())
