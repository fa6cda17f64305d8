"""How much would a better box buy the liver view? Its fold models re-predicted through other boxes.

Why: the liver view trains on squares around the *reference* liver and runs behind a locator's
predicted liver; on some patients the two boxes differ a lot (IoU 0.35 on `lits-036`'s tumour
slices). This re-predicts a liver-view CV run's kept fold weights (``fold<k>.weights.h5``, each
on the patients its fold held out) through:

* the locator's largest located region at each ``--threshold`` (0.5 is the shipped rule);
* the reference liver *without* its tumour: a perfect liver locator that does not know where the
  tumour is, the best any locator can do;
* the reference liver organ (liver plus tumour), the box the model trained on. It knows where the
  tumour is (a tumour hanging out of the liver widens it), so it is an upper bound, not a target.

and prints pooled ROC AUC [95 % CI over patients], the same without ``--leave-out`` patients,
sensitivity at specificity 0.90 and the mean IoU with the training box, per box source (and,
with ``--combine-with`` the body crop's report, the combined call's ROC AUC).

Usage: ``python scripts/liver_view_box_headroom.py --work-dir artifacts/cv_liver_loc256
--locator-dir artifacts/cv_body_256 --report assets/metrics/cv_efficientnet_lite0_unet_liver.json
--manifest M [--manifest M ...] [--threshold 0.5 --threshold 0.3]
[--combine-with assets/metrics/cv_efficientnet_lite0_unet.json]`` (~4 min per box source on
2 CPU cores).
"""
from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from sklearn.metrics import roc_auc_score

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from located_box_agreement import box_iou  # noqa: E402  (this script's folder)
from liver_model.cv_data import CVData, load_cv_data  # noqa: E402
from liver_model.cv_metrics import bootstrap_over_patients  # noqa: E402
from liver_model.cv_work_dir import out_of_fold_maps, weights_file  # noqa: E402
from liver_model.evaluation import load_row_slice  # noqa: E402
from liver_model.liver_view import box_from_liver_map  # noqa: E402
from liver_model.masks import LabelMask, load_label_mask  # noqa: E402
from liver_model.preprocessing import Box, liver_view_box, prepare  # noqa: E402

WITHOUT_TUMOUR = "reference liver without its tumour"
TRAINING_BOX = "reference liver organ (the training box)"


def reference_box(label: LabelMask, body_box: Box, with_tumour: bool) -> Box | None:
    """The liver-view square around the reference liver, with or without its tumour pixels."""
    return liver_view_box(label.liver if with_tumour else label.liver & ~label.tumour, body_box)


def box_sources(data: CVData, liver_maps: np.ndarray, thresholds: Sequence[float]
                ) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """(model inputs uint8 (N, S, S, 3), boxes (N, 4)) of every slice, per box source."""
    size = data.images.shape[1]
    names = [f"located, threshold {t:g}" for t in thresholds] + [WITHOUT_TUMOUR, TRAINING_BOX]
    images = {name: np.empty_like(data.images) for name in names}
    boxes = {name: np.empty((len(data.images), 4), np.int32) for name in names}
    for row, record in enumerate(data.frame.itertuples()):
        ct = load_row_slice(record.path, getattr(record, "slice_index", None))
        body = data.prepared_body(row, ct.rgb.shape[:2])
        label = load_label_mask(record.mask_path)
        chosen = [box_from_liver_map(liver_maps[row], body, threshold=t) for t in thresholds]
        chosen += [reference_box(label, body.crop_box, False), reference_box(label, body.crop_box, True)]
        for name, box in zip(names, chosen):
            view = prepare(ct, size, box)
            images[name][row] = np.rint(view.tensor).astype(np.uint8)
            boxes[name][row] = view.crop_box
    return images, boxes


def main(argv: Sequence[str] | None = None) -> int:
    from liver_model.registry import get_architecture
    from liver_model.training.segmentation import predict_maps

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work-dir", required=True, type=Path, help="the liver-view CV work dir")
    parser.add_argument("--locator-dir", required=True, type=Path, help="its locator's CV work dir")
    parser.add_argument("--report", required=True, type=Path, help="the liver-view CV report")
    parser.add_argument("--manifest", required=True, type=Path, action="append")
    parser.add_argument("--threshold", type=float, action="append", dest="thresholds")
    parser.add_argument("--leave-out", action="append", default=["lits-034", "lits-039"])
    parser.add_argument("--combine-with", type=Path, default=None,
                        help="CV report of the body crop on the same folds: also print the "
                             "combined call (mean of the two uncalibrated scores) per box source")
    args = parser.parse_args(argv)
    report = json.loads(args.report.read_text())
    slices, config = report["slices"], report["config"]
    y = np.array([s["y"] for s in slices])
    patients = np.array([s["patient_id"] for s in slices])
    fold_of_row = np.array([s["fold"] for s in slices])
    data = load_cv_data(args.manifest, config["size"])
    _, liver_maps, _ = out_of_fold_maps(args.locator_dir, len(slices))
    images, boxes = box_sources(data, liver_maps, args.thresholds or [0.5])
    scores = {name: np.zeros(len(slices)) for name in images}
    spec = get_architecture(report["architecture"])
    for fold in np.unique(fold_of_row):
        held = np.flatnonzero(fold_of_row == fold)
        model = spec.build(config["size"])
        model.load_weights(weights_file(args.work_dir, int(fold)))
        for name in images:
            scores[name][held] = predict_maps(model, images[name][held],
                                              flips=config.get("test_time_flips", 1))[0]
    kept = ~np.isin(patients, args.leave_out)
    partner = (None if args.combine_with is None else
               np.array([s["score"] for s in json.loads(args.combine_with.read_text())["slices"]]))
    for name, score in scores.items():
        pooled = bootstrap_over_patients(y, score, patients)
        without = bootstrap_over_patients(y[kept], score[kept], patients[kept], resamples=1)
        auc = pooled["roc_auc"]
        print(f"{name}: ROC AUC {auc['value']:.3f} [{auc['ci95_low']:.3f}-{auc['ci95_high']:.3f}], "
              f"without {' and '.join(args.leave_out)} {without['roc_auc']['value']:.3f}, "
              f"sens@spec0.90 {pooled['sensitivity_at_specificity_0.90']['value']:.3f}, "
              f"IoU with the training box {box_iou(boxes[name], boxes[TRAINING_BOX]).mean():.3f}"
              + ("" if partner is None else
                 f", combined call {roc_auc_score(y, (score + partner) / 2):.3f}"), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
