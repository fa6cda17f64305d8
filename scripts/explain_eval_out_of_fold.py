"""Explanation quality on patients the model never saw: each CV fold model explains its own
held-out patients' tumour slices.

Why: ``explain-eval`` scores the shipped models, which were trained on every patient, so for
them "Grad-CAM peaks in the tumour" is measured in-sample. The CV run keeps every fold's weights
(``<work dir>/fold<k>.weights.h5``); loading each under the shipped card and explaining only the
patients its fold held out gives the out-of-sample number, pooled over every patient.

Usage: ``python scripts/explain_eval_out_of_fold.py --work-dir artifacts/cv_in_syn10
--report assets/metrics/cv_efficientnet_lite0_unet.json --model efficientnet_lite0_unet
--manifest ../shared/datasets/lits_windowed_jpg/manifest.csv --per-fold 20
--out assets/metrics/explanation_quality_out_of_fold.json``
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from liver_model.cv_work_dir import weights_file  # noqa: E402
from liver_model.explain.evaluate import evaluate_explanations, load_eval_slices, select_tumour_rows, summarise  # noqa: E402
from liver_model.manifest import dataset_name, read_manifest  # noqa: E402
from liver_model.zoo import DEFAULT_MODELS_DIR, WEIGHTS_FILE, LoadedModel, load_model, read_card, write_card  # noqa: E402

METRICS = ("pointing_tumour", "energy_tumour", "pointing_own_tumour", "energy_own_tumour", "blank")


def fold_model(model_id: str, weights: Path, fold: int, into: Path) -> LoadedModel:
    """The shipped card's architecture and preprocessing with fold ``fold``'s weights."""
    card = read_card(DEFAULT_MODELS_DIR / model_id)
    card.model_id = f"{model_id}_fold{fold}"
    folder = into / card.model_id
    folder.mkdir(parents=True)
    shutil.copyfile(weights, folder / WEIGHTS_FILE)
    write_card(folder, card)
    return load_model(card.model_id, into)


def pooled(per_slice: list[dict]) -> dict[str, float | int | None]:
    """Mean of each metric over every held-out slice (None values, e.g. no own map, left out)."""
    return {"n": len(per_slice), **{name: summarise([s.get(name) for s in per_slice])["mean"] for name in METRICS}}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--work-dir", type=Path, required=True)
    parser.add_argument("--report", type=Path, required=True, help="the CV report of that work dir")
    parser.add_argument("--model", required=True, help="shipped model id whose recipe the CV ran")
    parser.add_argument("--manifest", type=Path, required=True)
    parser.add_argument("--per-fold", type=int, default=20, help="tumour slices sampled per fold")
    parser.add_argument("--methods", nargs="+", default=["gradcam", "gradcam++", "saliency"])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)

    folds = {int(k): set(v) for k, v in json.loads(args.report.read_text())["folds"].items()}
    frame = read_manifest(args.manifest)
    root = args.manifest.resolve().parent
    per_method: dict[str, list[dict]] = {m: [] for m in args.methods}
    by_fold = {}
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        for fold, patients in sorted(folds.items()):
            rows = select_tumour_rows(frame[frame["patient_id"].isin(patients)], split=None,
                                      max_slices=args.per_fold, seed=args.seed)
            if rows.empty:
                continue
            model = fold_model(args.model, weights_file(args.work_dir, fold), fold, Path(tmp))
            report = evaluate_explanations({model.model_id: model}, load_eval_slices(rows, root),
                                           args.methods, sanity_slices=0, seed=args.seed)
            by_fold[fold] = {"patients": sorted(rows["patient_id"].unique()), "n_slices": len(rows),
                             "methods": {m: report["models"][model.model_id][m]["metrics"] for m in args.methods}}
            for method in args.methods:
                per_method[method] += report["models"][model.model_id][method]["per_slice"]
            print(f"fold {fold}: {len(rows)} slices of {', '.join(by_fold[fold]['patients'])} "
                  f"({time.perf_counter() - started:.0f} s)", flush=True)
    result = {"model": args.model, "cv_report": str(args.report), "dataset": dataset_name(args.manifest),
              "per_fold_sample": args.per_fold, "seed": args.seed,
              "what": "each fold model explains tumour slices of the patients its fold held out",
              "pooled": {m: pooled(v) for m, v in per_method.items()}, "folds": by_fold}
    for method, metrics in result["pooled"].items():
        print(f"{method:10s} n {metrics['n']}: pointing {metrics['pointing_tumour']:.3f}, energy "
              f"{metrics['energy_tumour']:.3f}, own-map pointing {metrics['pointing_own_tumour']:.3f}, "
              f"blank {metrics['blank']:.2f}")
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
