"""Where does a cross-validated detector see tumour on the tumour-free slices it calls tumour?

Why: a false alarm can come from the tumour map (a bright or dark spot inside the liver) or from
the liver map (a neighbouring organ taken in as liver, so the gate lets its "tumour" through).
The fixes differ, so this tells them apart. For every tumour-free slice a CV report's shipped rule
(Platt unit, threshold) calls tumour, it reads the out-of-fold maps the run kept in its work dir
(``fold<k>.npz``) and prints where the tumour map peaks: inside the reference liver or how many
map cells outside it, and the model's own liver probability there.

Usage: ``python scripts/false_alarm_peaks.py --work-dir artifacts/cv_in_syn10
--report assets/metrics/cv_efficientnet_lite0_unet.json --manifest ... [--manifest ...]``
"""
from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from scipy import ndimage

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from liver_model.cv_data import load_cv_data  # noqa: E402
from liver_model.cv_work_dir import finished_predictions  # noqa: E402
from liver_model.detection_bins import called_at_threshold  # noqa: E402


@dataclass(frozen=True)
class Peak:
    """Where one slice's tumour map is highest, against the reference and the predicted liver."""

    tumour_p: float
    inside_reference_liver: bool
    cells_from_reference_liver: float
    """Distance in map cells from the peak to the nearest reference-liver cell (0 inside)."""
    predicted_liver_p: float
    """The model's own liver probability at the peak: near 1 = it took that tissue for liver."""


def tumour_peak(tumour: np.ndarray, liver: np.ndarray, reference_liver: np.ndarray) -> Peak:
    """The peak of ``tumour`` (map grid) against ``reference_liver`` (any grid, resized nearest)."""
    reference = cv2.resize(reference_liver.astype(np.uint8), tumour.shape[::-1],
                           interpolation=cv2.INTER_NEAREST).astype(bool)
    y, x = np.unravel_index(int(np.argmax(tumour)), tumour.shape)
    distance = ndimage.distance_transform_edt(~reference) if reference.any() else np.full(
        tumour.shape, np.inf)
    return Peak(tumour_p=float(tumour[y, x]), inside_reference_liver=bool(reference[y, x]),
                cells_from_reference_liver=float(distance[y, x]),
                predicted_liver_p=float(liver[y, x]))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work-dir", required=True, type=Path)
    parser.add_argument("--report", required=True, type=Path)
    parser.add_argument("--manifest", required=True, type=Path, action="append")
    args = parser.parse_args(argv)
    report = json.loads(args.report.read_text())
    normal, called = called_at_threshold(report, 0)
    alarms = {(s["dataset"], s["path"]) for s, c in zip(normal, called) if c}
    data = load_cv_data(args.manifest, int(report["config"]["size"]))
    keys = list(zip(data.frame["dataset"], data.frame["path"].map(lambda p: Path(p).name)))
    peaks: list[tuple[str, str, Peak]] = []
    for fold_file in finished_predictions(args.work_dir):
        with np.load(fold_file) as stored:
            for j, row in enumerate(stored["index"]):
                if keys[row] in alarms:
                    peaks.append((data.frame["patient_id"].iloc[row], keys[row][1],
                                  tumour_peak(stored["tumour"][j].astype(np.float32),
                                              stored["liver"][j].astype(np.float32),
                                              data.liver[row])))
    for patient, name, peak in sorted(peaks, key=lambda t: (t[0], t[1])):
        where = ("inside the reference liver" if peak.inside_reference_liver else
                 "on a slice without reference liver" if np.isinf(peak.cells_from_reference_liver)
                 else f"{peak.cells_from_reference_liver:.0f} cells outside the reference liver")
        print(f"{patient} {name}: tumour p {peak.tumour_p:.2f} {where}, "
              f"predicted liver p there {peak.predicted_liver_p:.2f}")
    outside = [p for _, _, p in peaks if not p.inside_reference_liver]
    print(f"{len(peaks)} false alarms (of {len(alarms)}) found in the work dir; peak outside the "
          f"reference liver on {len(outside)}, of which the model took for liver (p >= 0.5) "
          f"{sum(p.predicted_liver_p >= 0.5 for p in outside)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
