"""How much does a detector's call on each slice depend on the slice's orientation?

Why: the shipped body-crop detector averages its maps over 4 flipped copies (test-time flips),
which measured better on the 28 labelled patients. Its copies can still disagree on a scan unlike
the training data; this prints, per slice, the shipped p(tumour) and each copy's own p, so a
reviewer can see that before trusting a call on their own scans.

Usage: ``python scripts/flip_agreement.py --model efficientnet_lite0_unet
assets/examples/totalsegmentator_ct/*.dcm`` (a DICOM series, in slice order) or any slice files
the app reads (PNG/JPEG/DICOM/NIfTI, one or more slices each).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from liver_model.flip_agreement import COPY_NAMES, read_out_of_fold, spread  # noqa: E402
from liver_model.io.loader import load_slices, read_dicom_series  # noqa: E402
from liver_model.zoo import load_model  # noqa: E402

def agreement(model_id: str, files: list[Path]) -> dict:
    """Per slice: the shipped p, each copy's p and their spread (max - min); plus a summary."""
    model = load_model(model_id)
    if files and all(f.suffix.lower() == ".dcm" for f in files):
        slices = read_dicom_series([f.read_bytes() for f in files], [f.name for f in files])
    else:
        slices = [s for f in files for s in load_slices(f.read_bytes(), f.name)]
    prediction = model.predict(model.prepare_batch(slices))
    shipped, copies = prediction.p, prediction.copies
    spreads = spread(copies)
    rows = [{"slice": i, "p_shipped": float(p), **{name: float(c) for name, c in zip(COPY_NAMES, row)},
             "spread": float(s)} for i, (p, row, s) in enumerate(zip(shipped, copies, spreads))]
    measured = read_out_of_fold(model_id)
    return {"model": model_id, "test_time_flips": model.card.test_time_flips, "threshold": model.card.threshold,
            "slices": rows, "median_spread": float(np.median(spreads)),
            "labelled_patients_median_spread_max": None if measured is None else measured.patient_median_spread_max,
            "called_tumour_as_is": int((copies[:, 0] >= model.card.threshold).sum()),
            "called_tumour_shipped": int((shipped >= model.card.threshold).sum())}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="efficientnet_lite0_unet")
    parser.add_argument("--json", type=Path, default=None, help="also write the table here")
    parser.add_argument("files", type=Path, nargs="+")
    args = parser.parse_args(argv)
    result = agreement(args.model, args.files)
    print(f"{'slice':>5} {'shipped':>8} " + " ".join(f"{c:>10}" for c in COPY_NAMES) + f" {'spread':>7}")
    for row in result["slices"]:
        print(f"{row['slice']:5d} {row['p_shipped']:8.2f} " + " ".join(f"{row[c]:10.2f}" for c in COPY_NAMES)
              + f" {row['spread']:7.2f}")
    n = len(result["slices"])
    print(f"median spread {result['median_spread']:.2f}; called tumour (threshold "
          f"{result['threshold']:.2f}): {result['called_tumour_as_is']} of {n} as is, "
          f"{result['called_tumour_shipped']} of {n} shipped ({result['test_time_flips']} flips)")
    if result["labelled_patients_median_spread_max"] is not None:
        print(f"(out of fold, no labelled patient's median spread exceeded "
              f"{result['labelled_patients_median_spread_max']:.2f})")
    if args.json is not None:
        args.json.write_text(json.dumps(result, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
