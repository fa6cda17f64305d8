"""Numbers behind the case report (issue #10): diameter agreement and export time.

Usage: ``python scripts/benchmark_report.py [--data DIR] [--repeats N] [--render DIR]``.

1. **Diameter agreement, pixels (LiTS)**: on every tumour slice of the test patients, the longest
   diameter of the largest lesion measured from each map model's own tumour map (p >= 0.5) vs
   from the reference mask. The LiTS JPEGs carry no pixel spacing, so this is in pixels.
2. **mm checks (IRCAD DICOM, spacing known)**: the IRCAD sample has liver masks but no tumour,
   so (a) the calipers are checked on discs of known size planted in its real liver outlines,
   and (b) for models that predict a liver map (U-Nets), the liver's longest diameter from the
   model vs from the reference mask. Neither is a tumour-diameter agreement in mm; none is
   possible with the data here.
3. **Export time**: a slice report (all shipped models, Grad-CAM, PDF + JSON) of a real DICOM
   slice and a series report of the 20-file TotalSegmentator series, warm (models loaded and
   traced, as in the running app), median of ``--repeats``.
``--render DIR`` also writes the slice report's PDF and its pages as PNG (for looking at).
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np
from scipy import ndimage

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from liver_model.io import load_slice, load_slices, read_dicom_series  # noqa: E402
from liver_model.manifest import read_manifest  # noqa: E402
from liver_model.masks import load_label_mask  # noqa: E402
from liver_model.measurements import diameters, measure_slice  # noqa: E402
from liver_model.registry import get_architecture  # noqa: E402
from liver_model.report import build_slice_report, build_volume_report, render_pdf, report_json  # noqa: E402
from liver_model.segmentation import slice_maps  # noqa: E402
from liver_model.paths import SPLITS_DIR  # noqa: E402
from liver_model.splits import apply_split, load_split  # noqa: E402
from liver_model.zoo import list_shipped_models, load_model  # noqa: E402


def default_data_dir() -> Path:
    configured = os.environ.get("LIVERLENS_DATA")
    return Path(configured) if configured else REPO.parent / "shared" / "datasets"


def largest_long_axis(tumour: np.ndarray, spacing: tuple[float, float] | None = None) -> float | None:
    lesions = measure_slice(tumour, None, source="x", spacing_mm=spacing).lesions
    return lesions[0].long_axis if lesions else None


def lits_agreement(data: Path, models: list) -> None:
    frame = read_manifest(data / "lits_windowed_jpg" / "manifest.csv")
    frame = apply_split(frame, load_split(SPLITS_DIR / "lits_windowed_jpg.json"))
    rows = frame[(frame["split"] == "test") & (frame["label"] == "tumour")]
    print(f"\n1. LiTS test patients, {len(rows)} tumour slices: longest diameter of the largest lesion")
    for model in models:
        diffs, missed, truth_sizes = [], 0, []
        for _, row in rows.iterrows():
            ct, mask = load_slice(row["path"]), load_label_mask(row["mask_path"])
            reference = largest_long_axis(mask.tumour)
            if reference is None:
                continue
            truth_sizes.append(reference)
            found = largest_long_axis(slice_maps(model, model.prepare(ct)).tumour_mask())
            if found is None:
                missed += 1
            else:
                diffs.append(abs(found - reference))
        n = len(truth_sizes)
        if diffs:
            print(f"   {model.model_id}: lesion found on {len(diffs)}/{n} slices; median |model - "
                  f"reference| {statistics.median(diffs):.1f} px (IQR {np.percentile(diffs, 25):.1f}-"
                  f"{np.percentile(diffs, 75):.1f}); reference median {statistics.median(truth_sizes):.1f} px; "
                  f"missed {missed}")
        else:
            print(f"   {model.model_id}: no lesion found on any of {n} slices")


def ircad_mm_checks(data: Path, models: list) -> None:
    frame = read_manifest(data / "ircadb_dicom_sample" / "manifest.csv")
    rows = frame[frame["liver_pixels"].astype(int) > 0]
    errors = []
    for _, row in rows.iterrows():
        ct, mask = load_slice(row["path"]), load_label_mask(row["mask_path"])
        depth = ndimage.distance_transform_edt(mask.liver, sampling=ct.spacing_mm)
        cy, cx = np.unravel_index(int(np.argmax(depth)), depth.shape)
        yy, xx = np.mgrid[:ct.shape[0], :ct.shape[1]]
        for radius in (5.0, 10.0, 15.0, 25.0):
            if depth[cy, cx] <= radius:
                continue
            disc = (((yy - cy) * ct.spacing_mm[0]) ** 2 + ((xx - cx) * ct.spacing_mm[1]) ** 2
                    <= radius ** 2)
            errors.append(abs(diameters(disc, ct.spacing_mm)[0] - 2 * radius))
    print(f"\n2a. IRCAD DICOM ({rows.shape[0]} liver slices, {ct.spacing_mm[0]:.3f} mm pixels): "
          f"caliper check on {len(errors)} planted discs of 10-50 mm: median |measured - true| "
          f"{statistics.median(errors):.2f} mm, max {max(errors):.2f} mm")
    liver_models = [m for m in models if get_architecture(m.card.architecture).segmentation]
    if not liver_models:
        print("2b. No shipped model predicts a liver map, so no model-vs-reference mm comparison is "
              "possible on IRCAD (it has no tumours).")
    for model in liver_models:
        diffs = []
        for _, row in rows.iterrows():
            ct, mask = load_slice(row["path"]), load_label_mask(row["mask_path"])
            liver = slice_maps(model, model.prepare(ct)).liver_mask()
            if liver is not None and liver.any():
                diffs.append(abs(diameters(liver, ct.spacing_mm)[0] - diameters(mask.liver, ct.spacing_mm)[0]))
        if diffs:
            print(f"2b. {model.model_id}: liver longest diameter, median |model - reference| "
                  f"{statistics.median(diffs):.1f} mm over {len(diffs)}/{len(rows)} slices")


def export_times(data: Path, models: list, repeats: int, render: Path | None) -> None:
    files = sorted((data / "totalsegmentator_example_dicom" / "dicom").glob("*.dcm"))
    series = read_dicom_series(files)
    ct = load_slices(files[len(files) // 2])[0]
    options = dict(methods=["gradcam"], window="liver")
    build_slice_report(ct, models, slice_label="warm-up", **options)  # load + trace, as a warm app

    def timed(make):
        times, result = [], None
        for _ in range(repeats):
            start = time.perf_counter()
            report = make()
            result = (render_pdf(report), report_json(report))
            times.append(time.perf_counter() - start)
        return statistics.median(times), result

    slice_s, (pdf, _) = timed(lambda: build_slice_report(ct, models, slice_label="single slice (DICOM file)", **options))
    volume_s, (_, text) = timed(lambda: build_volume_report(series, models, series_label="DICOM series", **options))
    known = json.loads(text)["probabilities"]  # what the Volume page has already computed
    app_s, _ = timed(lambda: build_volume_report(series, models, series_label="DICOM series",
                                                 probabilities=known, **options))
    print(f"\n3. Export (warm, {len(models)} models, Grad-CAM, PDF + JSON), median of {repeats}: "
          f"slice report {slice_s:.2f} s; series report of {len(series)} slices (3 top slices) "
          f"{volume_s:.2f} s with p(tumour) of every slice computed, {app_s:.2f} s with the Volume "
          "page's p(tumour) reused")
    if render is not None:
        import pypdfium2

        render.mkdir(parents=True, exist_ok=True)
        (render / "report_dicom_slice.pdf").write_bytes(pdf)
        document = pypdfium2.PdfDocument(pdf)
        for i in range(len(document)):
            document[i].render(scale=1.5).to_pil().save(render / f"report_dicom_slice_page{i + 1}.png")
        print(f"   rendered {len(document)} page(s) to {render}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=default_data_dir())
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--render", type=Path, default=None)
    parser.add_argument("--skip-agreement", action="store_true", help="only time the exports")
    args = parser.parse_args()
    models = [load_model(card.model_id) for card in list_shipped_models()]
    map_models = [m for m in models if m.has_maps]
    print(f"models: {len(models)} shipped, with maps: {', '.join(m.model_id for m in map_models) or 'none'}")
    if not args.skip_agreement:
        lits_agreement(args.data, map_models)
        ircad_mm_checks(args.data, map_models)
    export_times(args.data, models, args.repeats, args.render)


if __name__ == "__main__":
    main()
