"""What a case report says, built once and rendered as PDF and JSON alike.

Why one content object: the PDF, the JSON, the dashboard's download and the command line must
never disagree, so every number is computed here and the renderers only lay it out.

Privacy: a report is built from :class:`~liver_model.slices.CTSlice` objects, whose ``meta`` never
holds patient identifiers (``liver_model.io`` copies no name, ID, date or institution), and from a
caller-given ``slice_label``. File names are not used (they often carry a patient name or a UID);
the input is identified by its SHA-256 instead.
"""
from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from liver_model.errors import LiverLensError
from liver_model.explain import METHODS, Explanation, explain
from liver_model.explain.overlay import draw_mask_outline, overlay_heatmap
from liver_model.explain.quality import energy_pointing
from liver_model.findings import ExplanationSummary, Findings, ModelResult, write_findings
from liver_model.masks import LabelMask
from liver_model.measurements import SliceMeasurements, measure_slice
from liver_model.preprocessing import PreparedSlice
from liver_model.report.figures import display_image, probability_chart
from liver_model.report.provenance import (expected_performance, report_date, software_version,
                                           weights_sha256)
from liver_model.card_files import cv_report_path
from liver_model.ensemble import EnsembleCard, probability_from_members
from liver_model.flip_agreement import combined_orientation_note, orientation_note, read_out_of_fold
from liver_model.segmentation import SegmentationMaps, maps_from_prediction
from liver_model.slices import CTSlice
from liver_model.weak_spots import weak_spots
from liver_model.zoo import CARD_FILE, DEFAULT_MODELS_DIR, WEIGHTS_FILE, LoadedModel, Prediction

DISCLAIMER = ("LiverLens is a research and teaching tool, not a medical device. Its outputs are not "
              "a diagnosis and must not be used for clinical decisions.")
REFERENCE = "reference mask"
LESION_COLOUR = (0, 255, 0)
TOP_SLICES = 3
"""Slices of a series shown in a volume report (highest mean p(tumour) over the models)."""

Explainer = Callable[[LoadedModel, PreparedSlice, str, dict[str, Any]], Explanation]


@dataclass(frozen=True)
class ModelRow:
    """One model in the report: identity, weights and its output on the reported slice."""

    model_id: str
    architecture: str
    weights_sha256: str
    result: ModelResult


@dataclass(frozen=True)
class Overlay:
    """One explanation map drawn over the slice, with what produced it."""

    model_id: str
    method: str
    method_label: str
    params: dict[str, Any]
    runtime_s: float
    is_blank: bool
    mass_in_lesion: float | None
    image: np.ndarray | None = dataclasses.field(repr=False, default=None)
    unavailable: str | None = None
    """Why no map was made (method not applicable, or it failed)."""


@dataclass(frozen=True)
class SliceReport:
    created: str
    software: str
    slice_label: str
    input_sha256: str | None
    image_format: str
    shape: tuple[int, int]
    spacing_mm: tuple[float, float] | None
    hu_calibrated: bool
    window: str
    models: tuple[ModelRow, ...]
    overlays: tuple[Overlay, ...]
    measurements: tuple[SliceMeasurements, ...]
    """First: the one the findings describe (reference mask if given, else a model's map)."""
    findings: Findings
    image: np.ndarray = dataclasses.field(repr=False, default=None)
    """The windowed slice with the measured lesions outlined in green."""
    combined: tuple[ModelResult, ...] = ()
    """The combined call of each ensemble whose members are all in the report."""
    disclaimer: str = DISCLAIMER


@dataclass(frozen=True)
class VolumeReport:
    created: str
    software: str
    series_label: str
    input_sha256: str | None
    n_slices: int
    probabilities: dict[str, list[float]]
    thresholds: dict[str, float]
    top_positions: tuple[int, ...]
    """0-based positions in the series; the report's text and chart number slices from 1."""
    top_slices: tuple[SliceReport, ...]
    chart: np.ndarray = dataclasses.field(repr=False, default=None)
    disclaimer: str = DISCLAIMER


def default_explainer(model: LoadedModel, prepared: PreparedSlice, method: str,
                      params: dict[str, Any]) -> Explanation:
    """Evidence for "tumour", as the dashboard shows by default."""
    return explain(model, prepared, method, target="tumour", **params)


def build_slice_report(ct: CTSlice, models: Sequence[LoadedModel], *, slice_label: str,
                       methods: Sequence[str] = ("gradcam",),
                       params: Mapping[str, dict[str, Any]] | None = None, window: str = "liver",
                       reference: LabelMask | None = None, input_sha256: str | None = None,
                       explainer: Explainer = default_explainer, opacity: float = 0.45,
                       colour_map: str = "jet", ensembles: Sequence[EnsembleCard] = ()) -> SliceReport:
    """Predict, map, measure, explain and describe one slice with every model in ``models``,
    and give the combined call of each of ``ensembles`` whose members are all among them."""
    prepared: dict[str, PreparedSlice] = {}

    def prep(model: LoadedModel) -> PreparedSlice:
        if model.view_key not in prepared:
            prepared[model.view_key] = model.prepare(ct)
        return prepared[model.view_key]

    predicted = {m.model_id: m.predict(prep(m).tensor) for m in models}
    rows = tuple(_model_row(m, predicted[m.model_id]) for m in models)
    maps = [found for m in models
            if (found := maps_from_prediction(m, prep(m), predicted[m.model_id])) is not None]
    crop_sides = {m.model_id: prep(m).crop_box[2] - prep(m).crop_box[0] for m in models}
    measurements = _measure_all(ct, reference, maps, crop_sides)
    primary = measurements[0] if measurements else None
    lesion = _primary_mask(reference, maps, primary)
    display, window_text = display_image(ct, window)
    overlays = tuple(_overlays(models, prep, display, lesion, methods, params or {}, explainer,
                               opacity, colour_map))
    summary = _explanation_summary(overlays, rows, lesion)
    reason = None if measurements else (
        "No lesion is measured: no reference mask was given and none of the models run predicts a "
        "tumour map (label-only classifiers give one p(tumour) per slice, not an outline).")
    findings = write_findings([r.result for r in rows], primary, summary, no_measurement_reason=reason)
    image = draw_mask_outline(display, lesion, colour=LESION_COLOUR) if lesion is not None else display
    return SliceReport(
        created=report_date(), software=software_version(), slice_label=slice_label,
        input_sha256=input_sha256, image_format=ct.meta.get("format", "image export"),
        shape=ct.shape, spacing_mm=ct.spacing_mm, hu_calibrated=bool(ct.hu is not None and ct.hu_calibrated),
        window=window_text, models=rows, overlays=overlays, measurements=tuple(measurements),
        findings=findings, image=image, combined=_combined_calls(ensembles, models, rows))


def build_volume_report(slices: Sequence[CTSlice], models: Sequence[LoadedModel], *,
                        series_label: str, input_sha256: str | None = None,
                        probabilities: Mapping[str, Sequence[float]] | None = None,
                        top: int = TOP_SLICES, **slice_options: Any) -> VolumeReport:
    """p(tumour) along z for every model, and a full slice report of the ``top`` slices."""
    if probabilities is None:
        probabilities = _stack_probabilities(models, slices)
    probs = {k: [float(v) for v in values] for k, values in probabilities.items()}
    thresholds = {m.model_id: float(m.card.threshold) for m in models}
    mean = np.mean(np.array([probs[m.model_id] for m in models]), axis=0)
    positions = tuple(int(i) for i in np.argsort(-mean, kind="stable")[:top])
    reports = tuple(build_slice_report(
        slices[i], models, slice_label=f"slice {i + 1} of {len(slices)} ({series_label})",
        input_sha256=input_sha256, **slice_options) for i in positions)
    return VolumeReport(
        created=report_date(), software=software_version(), series_label=series_label,
        input_sha256=input_sha256, n_slices=len(slices), probabilities=probs, thresholds=thresholds,
        top_positions=positions, top_slices=reports,
        chart=probability_chart(probs, thresholds, marked=positions))


def _stack_probabilities(models: Sequence[LoadedModel], slices: Sequence[CTSlice],
                         batch: int = 32) -> dict[str, list[float]]:
    """p(tumour) of every slice by every model; slices are prepared once per model view."""
    out: dict[str, list[float]] = {m.model_id: [] for m in models}
    views = {m.view_key: m for m in models}
    for start in range(0, len(slices), batch):
        chunk = list(slices[start:start + batch])
        tensors = {key: m.prepare_batch(chunk) for key, m in views.items()}
        for m in models:
            out[m.model_id] += m.predict_proba(tensors[m.view_key]).tolist()
    return out


def _combined_calls(ensembles: Sequence[EnsembleCard], models: Sequence[LoadedModel],
                    rows: Sequence[ModelRow]) -> tuple[ModelResult, ...]:
    """Each ensemble's call from its members' p(tumour) in ``rows`` (no forward pass of its own);
    ensembles with a member not in the report are left out."""
    by_id = {m.model_id: m for m in models}
    p = {r.model_id: r.result.probability for r in rows}
    copies = {r.model_id: r.result.flipped_copies for r in rows}
    out = []
    for card in ensembles:
        if not set(card.members) <= set(by_id):
            continue
        point = card.cross_validation.get("at_threshold") or {}
        doubt = combined_orientation_note(card.members, copies, {m: read_out_of_fold(m) for m in card.members},
                                          card.ensemble_id)
        out.append(ModelResult(
            f"{card.ensemble_id} (combined call)", float(probability_from_members(card, p, by_id)),
            float(card.threshold), point.get("sensitivity"), point.get("specificity"),
            "cross-validation", orientation=doubt[0] if doubt else None, orientation_warning=doubt is not None,
            weak_spots=_weak_spots(card)))
    return tuple(out)


def _model_row(model: LoadedModel, prediction: Prediction) -> ModelRow:
    """The model's row; a test-time-flipped model's copies and what their spread has meant."""
    card_file = DEFAULT_MODELS_DIR / model.model_id / CARD_FILE
    raw = json.loads(card_file.read_text()) if card_file.is_file() else None
    sens, spec, source = expected_performance(model.card, raw)
    weights = DEFAULT_MODELS_DIR / model.model_id / WEIGHTS_FILE
    copies = tuple(float(c) for c in prediction.copies[0]) if prediction.copies.shape[1] > 1 else ()
    note, warn = orientation_note(copies, read_out_of_fold(model.model_id)) if copies else (None, False)
    return ModelRow(
        model_id=model.model_id, architecture=model.card.architecture,
        weights_sha256=weights_sha256(weights) if weights.is_file() else "unknown (not a shipped model)",
        result=ModelResult(model.model_id, float(prediction.p[0]), float(model.card.threshold), sens, spec,
                           source, flipped_copies=copies, orientation=note, orientation_warning=warn,
                           weak_spots=_weak_spots(model.card)))


def _weak_spots(card: Any) -> tuple[str, ...]:
    """The card's measured weak spots, from its CV report (none without one)."""
    path = cv_report_path(card)
    return tuple(weak_spots(json.loads(path.read_text()))) if path is not None else ()


def _measure_all(ct: CTSlice, reference: LabelMask | None, maps: Sequence[SegmentationMaps],
                 crop_sides: Mapping[str, int]) -> list[SliceMeasurements]:
    """Reference mask first (when given), then each model's map, U-Nets (with a liver) first.

    A model's measurements get a note with its map's cell size on this slice: a map-head model's
    map has 1/8 of the input side, so one cell spans several mm and bounds the caliper's precision.
    """
    common = dict(hu=ct.hu, hu_calibrated=ct.hu_calibrated, spacing_mm=ct.spacing_mm, body_rgb=ct.rgb)
    out = []
    if reference is not None:
        out.append(measure_slice(reference.tumour, reference.liver, source=REFERENCE,
                                 liver_source=REFERENCE, **common))
    for found in sorted(maps, key=lambda f: f.liver is None):
        liver = found.liver_mask()
        liver_source = found.model_id
        if liver is None and reference is not None:
            liver, liver_source = reference.liver, REFERENCE
        measured = measure_slice(found.tumour_mask(), liver, source=found.model_id,
                                 liver_source=liver_source if liver is not None else None, **common)
        cell = crop_sides[found.model_id] / found.map_side
        size = (f"{cell * ct.spacing_mm[1]:.1f} mm" if ct.spacing_mm is not None else f"{cell:.1f} px")
        note = (f"The tumour map of {found.model_id} has {found.map_side} x {found.map_side} cells "
                f"over the body crop (one cell spans {size} of this slice), which bounds the "
                "precision of its outline.")
        out.append(dataclasses.replace(measured, notes=measured.notes + (note,)))
    return out


def _primary_mask(reference: LabelMask | None, maps: Sequence[SegmentationMaps],
                  primary: SliceMeasurements | None) -> np.ndarray | None:
    """The tumour mask the findings describe (the one measured first)."""
    if primary is None:
        return None
    if primary.source == REFERENCE and reference is not None:
        return reference.tumour
    return next(f.tumour_mask() for f in maps if f.model_id == primary.source)


def _unavailable(method: str, model: LoadedModel) -> str | None:
    """Why ``method`` cannot explain ``model``, from the method metadata (as the dashboard says)."""
    spec = METHODS[method]
    if model.card.is_transformer and not spec.works_for_vit:
        return f"{spec.label} does not apply to a Vision Transformer."
    if spec.needs_conv_layer and not model.card.cam_layer:
        return f"{spec.label} needs a spatial (convolution or token-grid) layer."
    return None


def _overlays(models: Sequence[LoadedModel], prep: Callable[[LoadedModel], PreparedSlice],
              display: np.ndarray, lesion: np.ndarray | None, methods: Sequence[str],
              params: Mapping[str, dict[str, Any]], explainer: Explainer, opacity: float,
              colour_map: str) -> list[Overlay]:
    """Every model x method map over the display image, with the lesion outline on top."""
    out = []
    for method in methods:
        spec = METHODS[method]
        method_params = dict(params.get(method) or spec.params_for(None, {}))
        for model in models:
            reason = _unavailable(method, model)
            if reason:
                out.append(Overlay(model.model_id, method, spec.label, method_params, 0.0, False, None,
                                   unavailable=reason))
                continue
            try:
                exp = explainer(model, prep(model), method, method_params)
            except LiverLensError as err:  # one method failing on one model leaves the rest
                out.append(Overlay(model.model_id, method, spec.label, method_params, 0.0, False, None,
                                   unavailable=str(err)))
                continue
            mass = energy_pointing(exp.heatmap, lesion) if lesion is not None and lesion.any() else None
            image = overlay_heatmap(display, exp.heatmap, opacity=opacity, colour_map=colour_map)
            if lesion is not None:
                image = draw_mask_outline(image, lesion, colour=LESION_COLOUR, thickness=1)
            out.append(Overlay(model.model_id, method, spec.label, dict(exp.params), exp.runtime_s,
                               exp.is_blank, None if mass is None or np.isnan(mass) else mass, image))
    return out


def _explanation_summary(overlays: Sequence[Overlay], rows: Sequence[ModelRow],
                         lesion: np.ndarray | None) -> ExplanationSummary | None:
    """The explanation the paragraph speaks of: first method, on the model with the highest p."""
    made = [o for o in overlays if o.unavailable is None]
    if not made:
        return None
    probability = {r.model_id: r.result.probability for r in rows}
    first = [o for o in made if o.method == made[0].method]
    chosen = max(first, key=lambda o: probability.get(o.model_id, 0.0))
    fraction = float(lesion.mean()) if lesion is not None and lesion.any() else None
    return ExplanationSummary(chosen.model_id, chosen.method_label, chosen.mass_in_lesion, fraction,
                              chosen.is_blank)


def report_dict(report: SliceReport | VolumeReport) -> dict[str, Any]:
    """Everything of the report except pixel arrays, as JSON-ready Python values."""

    def plain(value: Any) -> Any:
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            out = {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value)
                   if not isinstance(getattr(value, f.name), np.ndarray)
                   and f.name not in ("image", "chart")}
            for name in ("text", "calls_tumour", "tumour_area", "tumour_burden", "hu_difference",
                         "attenuation"):
                if hasattr(type(value), name):
                    out[name] = plain(getattr(value, name))
            return out
        if isinstance(value, dict):
            return {str(k): plain(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [plain(v) for v in value]
        if isinstance(value, np.generic):
            return value.item()
        if isinstance(value, float) and not np.isfinite(value):
            return None
        return value

    kind = "volume" if isinstance(report, VolumeReport) else "slice"
    return {"report": f"LiverLens {kind} case report", **plain(report)}


def report_json(report: SliceReport | VolumeReport) -> str:
    """:func:`report_dict` as indented JSON text (UTF-8 safe, no NaN)."""
    return json.dumps(report_dict(report), indent=2, ensure_ascii=False, allow_nan=False)
