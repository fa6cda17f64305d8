"""What has the spread of a detector's flipped copies meant on patients it never saw?

Why: the app shows, beside a test-time-flipped call, each copy's own p and how far they lie
apart; that is only useful with a measured meaning. Each CV fold model (kept in the ``cv`` work
dir) predicts its held-out slices once per flipped copy; the shipped model's Platt unit and
threshold (from the same report) turn them into p; the slices are then banded by spread and the
accuracy of the shipped call (the averaged score of the report at the threshold) is counted per
band. With ``--ensemble-report`` (a combined call's CV report, of which the model is a member),
the combined call's own out-of-fold calls are banded by the same spreads, so the app's warning on
the combined call states the combined call's measured accuracy, not only its member's. Each
slice's spread is kept in the JSON (work dirs with fold weights are not kept between sessions).
Writes ``assets/metrics/flip_agreement_out_of_fold.json``, which the app reads.

Usage: ``python scripts/flip_agreement_out_of_fold.py --work-dir artifacts/cv_in_syn10
--report assets/metrics/cv_efficientnet_lite0_unet.json --model efficientnet_lite0_unet
--manifest ../shared/datasets/lits_windowed_jpg/manifest.csv
--manifest ../shared/datasets/ircadb_dicom_sample/manifest.csv``
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from liver_model.cv_data import load_cv_data  # noqa: E402
from liver_model.cv_metrics import apply_platt  # noqa: E402
from liver_model.cv_work_dir import weights_file  # noqa: E402
from liver_model.flip_agreement import (OUT_OF_FOLD_FILE, SpreadBand, per_flip_probabilities, spread,  # noqa: E402
                                        spread_bands)
from liver_model.registry import get_architecture  # noqa: E402


def combined_bands(ensemble: dict, keys: list[tuple[str, str]], y: np.ndarray,
                   spreads: np.ndarray) -> list[SpreadBand]:
    """The combined call's shipped out-of-fold calls (its report, calibration and threshold)
    banded by a member's per-slice ``spreads``; slices matched by (dataset, path)."""
    by_key = {(s["dataset"], s["path"]): s for s in ensemble["slices"]}
    if set(by_key) != set(keys):
        raise ValueError("the combined call's report holds other slices than the member's")
    calibration = ensemble["shipping_calibration"]
    p = apply_platt(np.array([by_key[k]["score"] for k in keys]), calibration["slope"], calibration["intercept"])
    return spread_bands(y, p, calibration["threshold_p"], spreads)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--work-dir", type=Path, required=True, help="work dir of the cv run (fold weights)")
    parser.add_argument("--report", type=Path, required=True, help="that run's report (test-time flips > 1)")
    parser.add_argument("--model", required=True, help="the shipped model of that recipe")
    parser.add_argument("--manifest", type=Path, action="append", required=True)
    parser.add_argument("--ensemble-report", type=Path, action="append", default=[],
                        help="a combined call's CV report (cv_<ensemble_id>.json) with this model as member")
    parser.add_argument("--out", type=Path, default=OUT_OF_FOLD_FILE)
    args = parser.parse_args(argv)

    report = json.loads(args.report.read_text())
    config = report["config"]
    slices = report["slices"]
    y = np.array([s["y"] for s in slices])
    folds = np.array([s["fold"] for s in slices])
    patients = np.array([s["patient_id"] for s in slices])
    images = load_cv_data(args.manifest, config["size"]).images
    if len(images) != len(slices):
        raise SystemExit(f"{len(images)} slices from the manifests, {len(slices)} in the report")
    started = time.perf_counter()
    raw = np.zeros((len(y), 4))
    for fold in np.unique(folds):
        model = get_architecture(report["architecture"]).build(config["size"])
        model.load_weights(weights_file(args.work_dir, fold))  # output unit untouched: p = s
        rows = np.flatnonzero(folds == fold)
        for start in range(0, len(rows), 32):
            chunk = rows[start:start + 32]
            raw[chunk] = per_flip_probabilities(model, images[chunk])
        print(f"fold {fold}: {len(rows)} slices ({time.perf_counter() - started:.0f} s)", flush=True)
    calibration = report["shipping_calibration"]
    platt = (calibration["slope"], calibration["intercept"])
    copies = apply_platt(raw, *platt)
    spreads = spread(copies)
    shipped_p = apply_platt(np.array([s["score"] for s in slices]), *platt)
    bands = spread_bands(y, shipped_p, calibration["threshold_p"], spreads)
    medians = np.array([np.median(spreads[patients == p]) for p in np.unique(patients)])
    result = {"model": args.model, "cv_report": str(args.report), "test_time_flips": config.get("test_time_flips", 1),
              "what": "each fold model's flipped copies of its held-out slices; shipped Platt unit and threshold",
              "n_slices": len(y), "n_patients": len(medians),
              "bands": [dataclasses.asdict(b) for b in bands],
              "spread_quantiles": {q: float(np.quantile(spreads, float(q))) for q in ("0.5", "0.9", "0.95", "0.99")},
              "patient_median_spread": {"min": float(medians.min()), "median": float(np.median(medians)),
                                        "max": float(medians.max())}}
    result["combined"] = {}
    keys = [(s["dataset"], s["path"]) for s in slices]
    for path in args.ensemble_report:
        ensemble_id = path.stem.removeprefix("cv_")
        result["combined"][ensemble_id] = [dataclasses.asdict(b) for b in
                                           combined_bands(json.loads(path.read_text()), keys, y, spreads)]
        for band in result["combined"][ensemble_id]:
            print(f"{ensemble_id}, member spread {band['low']:.1f}-{band['high']:.1f}: {band['n']} slices, "
                  f"combined call right {band['accuracy']:.3f}")
    result["slices"] = [[d, path, round(float(v), 4)] for (d, path), v in zip(keys, spreads)]
    for band in bands:
        print(f"spread {band.low:.1f}-{band.high:.1f}: {band.n} slices, call right {band.accuracy:.3f}, "
              f"ROC AUC {band.roc_auc:.3f}")
    print(f"per-patient median spread {medians.min():.3f}-{medians.max():.3f}")
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
