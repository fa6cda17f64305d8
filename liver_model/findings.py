"""The findings paragraph: a template that turns measured numbers and model outputs into words.

Why a template and not a language model: every sentence must state a number that can be checked
against the measurements table or a model's output, name where it came from, and never claim
more than one CT slice supports. A template can be read, tested and trusted to do exactly that;
it also says what the image *cannot* support (attenuation of an 8-bit export, a LI-RADS category
from one portal-venous slice) instead of leaving a gap a reader might fill in.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from liver_model.measurements import MIN_LESION_PX, Lesion, SliceMeasurements

LI_RADS_SENTENCE = (
    "No LI-RADS category is assigned: arterial-phase hyperenhancement, washout and a capsule need "
    "multiphase CT, and a single slice of one phase cannot show them."
)
SOURCE_MODELS = "model outputs"
SOURCE_IMAGE = "image file"
SOURCE_STANDARD = "LI-RADS v2018 CT criteria"


@dataclass(frozen=True)
class ModelResult:
    """One model's slice-level output and what its card says to expect at its threshold."""

    model_id: str
    probability: float
    threshold: float
    sensitivity: float | None = None
    specificity: float | None = None
    performance_source: str = "not available"
    """Where sensitivity / specificity come from (cross-validation, test or validation patients)."""
    flipped_copies: tuple[float, ...] = ()
    """Each flipped copy's own p for a test-time-flipped model (empty for one pass)."""
    orientation: str | None = None
    """What the copies' spread has meant (:func:`liver_model.flip_agreement.orientation_note`)."""
    orientation_warning: bool = False
    """The copies disagree as much as where the call was a coin flip out of fold."""
    weak_spots: tuple[str, ...] = ()
    """Where the model failed on unseen patients (:func:`liver_model.weak_spots.weak_spots` of its
    CV report): a reader of the report weighs the call against them as on Diagnose."""

    @property
    def calls_tumour(self) -> bool:
        return self.probability >= self.threshold


@dataclass(frozen=True)
class ExplanationSummary:
    """How much of one explanation map falls inside the measured lesion outline."""

    model_id: str
    method_label: str
    mass_in_lesion: float | None
    """Share of the map's mass inside the lesion mask; None when no lesion is outlined."""
    lesion_fraction: float | None
    """Share of the slice the lesion mask covers (what a uniform map would put inside)."""
    is_blank: bool = False


@dataclass(frozen=True)
class Sentence:
    text: str
    source: str
    """Model id, "reference mask", :data:`SOURCE_MODELS`, :data:`SOURCE_IMAGE`..."""


@dataclass(frozen=True)
class Findings:
    sentences: tuple[Sentence, ...]

    @property
    def text(self) -> str:
        return " ".join(s.text for s in self.sentences)


def write_findings(models: Sequence[ModelResult], measurements: SliceMeasurements | None,
                   explanation: ExplanationSummary | None, *,
                   no_measurement_reason: str | None = None) -> Findings:
    """The paragraph for one slice.

    ``measurements`` is None when no tumour mask was available (no reference mask and no model
    with a tumour map); ``no_measurement_reason`` then says why in the paragraph.
    """
    sentences = [*_model_sentences(models)]
    if measurements is None:
        sentences.append(Sentence(no_measurement_reason or "No lesion was measured: no reference "
                                  "mask was given and no model predicts a tumour map.", SOURCE_MODELS))
    else:
        sentences += _lesion_sentences(measurements)
    if explanation is not None:
        sentences.append(_explanation_sentence(explanation))
    sentences.append(Sentence(LI_RADS_SENTENCE, SOURCE_STANDARD))
    return Findings(tuple(sentences))


def source_phrase(source: str) -> str:
    """How a measurement source is named in a sentence."""
    return "the reference mask" if source == "reference mask" else f"the tumour map of {source}"


def fmt_length(value: float, unit: str) -> str:
    return f"{value:.1f} mm" if unit == "mm" else f"{value:.0f} px"


def fmt_area(value: float, unit: str) -> str:
    return f"{value:,.0f} mm²" if unit == "mm" else f"{value:,.0f} px²"


def _model_sentences(models: Sequence[ModelResult]) -> list[Sentence]:
    """Agreement in one sentence, then what the thresholds imply for false calls."""
    if not models:
        return [Sentence("No model was run on this slice.", SOURCE_MODELS)]
    n = len(models)
    positive = [m for m in models if m.calls_tumour]
    top = max(models, key=lambda m: m.probability)
    if len(positive) == n == 1:
        text = (f"The model {top.model_id} suggests a liver tumour on this slice (p(tumour) "
                f"{top.probability:.2f}, threshold {top.threshold:.2f}).")
    elif len(positive) == n:
        text = (f"All {n} models suggest a liver tumour on this slice at their own thresholds "
                f"(p(tumour) {min(m.probability for m in models):.2f} to {top.probability:.2f}; "
                f"highest {top.model_id}).")
    elif not positive and n == 1:
        text = (f"The model {top.model_id} does not suggest a liver tumour on this slice "
                f"(p(tumour) {top.probability:.2f}, threshold {top.threshold:.2f}).")
    elif not positive:
        text = (f"None of the {n} models suggests a liver tumour on this slice at its own "
                f"threshold (highest p(tumour) {top.probability:.2f}, {top.model_id}, threshold "
                f"{top.threshold:.2f}).")
    else:
        negative = [m for m in models if not m.calls_tumour]
        text = (f"The models disagree: {len(positive)} of {n} suggest a liver tumour at their own "
                f"thresholds ({', '.join(f'{m.model_id} {m.probability:.2f}' for m in positive)}) "
                f"and {len(negative)} do not "
                f"({', '.join(f'{m.model_id} {m.probability:.2f}' for m in negative)}).")
    out = [Sentence(text, SOURCE_MODELS)]
    out += [Sentence(f"{m.model_id}: {m.orientation}", m.model_id)
            for m in models if m.orientation_warning and m.orientation]
    known = [m for m in models if m.sensitivity is not None and m.specificity is not None]
    if known:
        sources = sorted({m.performance_source for m in known})
        out.append(Sentence(
            f"At these thresholds the models' expected sensitivity is "
            f"{_span([m.sensitivity for m in known])} and specificity "
            f"{_span([m.specificity for m in known])} ({' / '.join(sources)}), so a single call "
            "is a hint for review, not a diagnosis.", "model cards"))
    return out


def _span(values: Sequence[float | None]) -> str:
    clean = [v for v in values if v is not None]
    low, high = min(clean), max(clean)
    return f"{low:.2f}" if round(low, 2) == round(high, 2) else f"{low:.2f} to {high:.2f}"


def _lesion_sentences(m: SliceMeasurements) -> list[Sentence]:
    """Size, position, attenuation and burden of the largest lesion, plus the others' sizes."""
    where = source_phrase(m.source)
    out: list[Sentence] = []
    if m.unit == "px":
        out.append(Sentence("The pixel spacing of this image is unknown (an image export), so "
                            "sizes are given in pixels.", SOURCE_IMAGE))
    if not m.lesions:
        specks = (f" ({m.dropped_small} region(s) under {MIN_LESION_PX} pixels ignored)"
                  if m.dropped_small else "")
        detail = "" if m.source == "reference mask" else " at p >= 0.5"
        out.append(Sentence(f"No lesion is outlined by {where}{detail} on this slice{specks}.",
                            m.source))
        out += _liver_sentences(m, None)
        return out
    big = m.lesions[0]
    count = (f"{len(m.lesions)} lesions; the largest measures" if len(m.lesions) > 1
             else "one lesion, measuring")
    text = (f"{where[0].upper()}{where[1:]} outlines {count} "
            f"{fmt_length(big.long_axis, m.unit)} x {fmt_length(big.short_axis, m.unit)} (longest "
            f"and perpendicular diameter; area {fmt_area(big.area, m.unit)})")
    if len(m.lesions) > 1:
        others = ", ".join(fmt_length(les.long_axis, m.unit) for les in m.lesions[1:6])
        more = f" and {len(m.lesions) - 6} more" if len(m.lesions) > 6 else ""
        text += f"; the others measure {others}{more} (longest diameter)"
    out.append(Sentence(text + ".", m.source))
    if big.touches_border:
        out.append(Sentence("It reaches the image border, so its size is a lower bound.", m.source))
    out += _liver_sentences(m, big)
    return out


def _liver_sentences(m: SliceMeasurements, big: Lesion | None) -> list[Sentence]:
    """Position, attenuation and burden, or why they are not stated."""
    out: list[Sentence] = []
    liver_name = "reference mask" if m.liver_source == "reference mask" else m.liver_source
    if m.liver_area is None or m.liver_area == 0:
        reason = ("no liver is outlined on this slice" if m.liver_area == 0
                  else "no liver outline is available (no reference mask, and the model predicts no liver)")
        out.append(Sentence(f"Liver area, tumour burden, lesion side and surrounding-liver "
                            f"attenuation are not measured: {reason}.", m.liver_source or m.source))
    elif big is not None:
        edge = ("reaching the liver edge" if big.edge_distance == 0
                else f"{fmt_length(big.edge_distance or 0.0, m.unit)} from the liver edge")
        out.append(Sentence(f"It lies in the {big.side} of the liver on this slice, {edge} "
                            f"(liver outline: {liver_name}).", liver_name or m.source))
        out.append(Sentence(f"The lesions cover {m.tumour_burden:.1%} of the liver area on this "
                            f"slice ({fmt_area(m.tumour_area, m.unit)} of "
                            f"{fmt_area(m.liver_area, m.unit)}).", m.source))
    else:
        out.append(Sentence(f"Liver area on this slice is {fmt_area(m.liver_area, m.unit)} "
                            f"({liver_name}).", liver_name or m.source))
    if big is None:
        return out
    if not m.hu_calibrated:
        out.append(Sentence("The image is not HU-calibrated (grey levels of an exported window), "
                            "so the lesion's attenuation is not stated.", SOURCE_IMAGE))
    elif big.liver_hu is None:
        out.append(Sentence(f"The lesion measures {big.lesion_hu.mean:.0f} ± {big.lesion_hu.std:.0f} "
                            "HU; without a measurable rim of surrounding liver it is not called "
                            "hypo-, iso- or hyper-attenuating.", m.source))
    else:
        out.append(Sentence(
            f"It is {big.attenuation} relative to the surrounding liver: "
            f"{big.lesion_hu.mean:.0f} ± {big.lesion_hu.std:.0f} HU against "
            f"{big.liver_hu.mean:.0f} ± {big.liver_hu.std:.0f} HU (difference "
            f"{big.hu_difference:+.0f} HU).", m.source))
    return out


def _explanation_sentence(e: ExplanationSummary) -> Sentence:
    if e.is_blank:
        return Sentence(f"{e.method_label} of {e.model_id} found no evidence for a tumour on this "
                        "slice (blank map).", e.model_id)
    if e.mass_in_lesion is None:
        return Sentence(f"{e.method_label} of {e.model_id} is shown, but no lesion is outlined, so "
                        "its overlap with a lesion is not measured.", e.model_id)
    chance = f" (the outline covers {e.lesion_fraction:.1%} of the slice)" if e.lesion_fraction else ""
    return Sentence(f"{e.method_label} of {e.model_id} puts {e.mass_in_lesion:.0%} of its mass "
                    f"inside the outlined lesion{chance}.", e.model_id)
