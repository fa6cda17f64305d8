"""Render a :class:`SliceReport` or :class:`VolumeReport` as a PDF (fpdf2).

Why fpdf2: pure Python on top of Pillow (already pinned), one small wheel, actively maintained,
takes images as PIL objects and has a table API; reportlab would do the same with a larger
install and a lower-level canvas API. The PDF uses the core Helvetica font (Latin-1), so text is
folded to Latin-1 here; no font file needs shipping. Document metadata carries only the title
and the software, never anything about the patient.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from fpdf import FPDF
from PIL import Image

from liver_model.findings import fmt_area, fmt_length
from liver_model.measurements import HUStats, SliceMeasurements
from liver_model.report.content import SliceReport, VolumeReport

PAGE_WIDTH = 190.0
"""Printable width of an A4 page with 10 mm margins, mm."""
_FOLD = {"≥": ">=", "≤": "<=", "–": "-", "—": "-", "’": "'", "“": '"', "”": '"', "…": "..."}


def latin1(text: str) -> str:
    """Text the core PDF fonts can show (Latin-1), with common typography folded to ASCII."""
    for char, plain in _FOLD.items():
        text = text.replace(char, plain)
    return text.encode("latin-1", "replace").decode("latin-1")


class _Document(FPDF):
    def footer(self) -> None:
        self.set_y(-12)
        self.set_font("helvetica", "I", 7)
        self.cell(0, 5, latin1("LiverLens: research and teaching tool, not a medical device. "
                               f"Page {self.page_no()}"), align="C")


def render_pdf(report: SliceReport | VolumeReport, *, compress: bool = True) -> bytes:
    """The report as PDF bytes. ``compress=False`` leaves page streams readable (used by tests)."""
    pdf = _Document(format="A4")
    pdf.set_compression(compress)
    pdf.set_margins(10, 10, 10)
    pdf.set_auto_page_break(True, margin=15)
    pdf.set_title("LiverLens case report")
    pdf.set_creator(latin1(report.software))
    pdf.add_page()
    if isinstance(report, VolumeReport):
        _volume(pdf, report)
    else:
        _slice(pdf, report, title="LiverLens case report")
    _disclaimer(pdf, report.disclaimer)
    return bytes(pdf.output())


def _heading(pdf: FPDF, text: str, size: int = 11) -> None:
    pdf.set_font("helvetica", "B", size)
    pdf.cell(0, 7, latin1(text), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("helvetica", "", 8)


def _lines(pdf: FPDF, lines: Sequence[str], size: int = 8) -> None:
    pdf.set_font("helvetica", "", size)
    for line in lines:
        pdf.multi_cell(0, 4, latin1(line), new_x="LMARGIN", new_y="NEXT")


def _disclaimer(pdf: FPDF, text: str) -> None:
    """The boxed disclaimer, never split by a page break (it must read as one statement)."""
    pdf.ln(2)
    pdf.set_font("helvetica", "B", 8)
    lines = pdf.multi_cell(0, 5, latin1("Disclaimer: " + text), dry_run=True, output="LINES")
    if pdf.get_y() + 5 * len(lines) > pdf.page_break_trigger:
        pdf.add_page()
    pdf.set_fill_color(255, 235, 230)
    pdf.multi_cell(0, 5, latin1("Disclaimer: " + text), border=1, fill=True,
                   new_x="LMARGIN", new_y="NEXT")


def _image(pdf: FPDF, rgb: np.ndarray, x: float, y: float, w: float) -> float:
    """Place an RGB array; returns its height on the page (mm)."""
    image = Image.fromarray(np.ascontiguousarray(rgb, np.uint8))
    pdf.image(image, x=x, y=y, w=w)
    return w * image.height / image.width


def _table(pdf: FPDF, header: Sequence[str], rows: Sequence[Sequence[str]],
           widths: Sequence[float], size: int = 7) -> None:
    pdf.set_font("helvetica", "", size)
    with pdf.table(col_widths=tuple(widths), width=PAGE_WIDTH, text_align="LEFT",
                   line_height=size * 0.55, first_row_as_headings=True) as table:
        for values in (header, *rows):
            row = table.row()
            for value in values:
                row.cell(latin1(str(value)))
    pdf.ln(2)


def _slice(pdf: FPDF, r: SliceReport, *, title: str) -> None:
    _heading(pdf, title, 14)
    spacing = (f"{r.spacing_mm[0]:.3f} x {r.spacing_mm[1]:.3f} mm" if r.spacing_mm
               else "unknown (sizes in pixels)")
    _lines(pdf, [
        f"Report date: {r.created}    Software: {r.software}",
        f"Input: {r.slice_label}; {r.image_format}; {r.shape[1]} x {r.shape[0]} pixels; pixel spacing "
        f"{spacing}; HU-calibrated: {'yes' if r.hu_calibrated else 'no'}"
        + (f"; input SHA-256 {r.input_sha256[:16]}..." if r.input_sha256 else ""),
        f"Display: {r.window}. " + (
            f"Green outline: the lesions described below ({r.measurements[0].source})."
            if r.measurements and r.measurements[0].lesions else "No lesion outlined."),
    ])
    top = pdf.get_y() + 1
    height = _image(pdf, r.image, 10, top, 85)
    pdf.set_xy(100, top)
    pdf.set_font("helvetica", "B", 10)
    pdf.cell(0, 6, "Findings", new_x="LEFT", new_y="NEXT")
    pdf.set_font("helvetica", "", 8.5)
    pdf.multi_cell(100, 4.2, latin1(r.findings.text), align="L", new_x="LMARGIN", new_y="NEXT")
    pdf.set_y(max(pdf.get_y(), top + height) + 3)
    _heading(pdf, "Models")
    _table(pdf, ["model", "p(tumour)", "threshold", "call", "sensitivity", "specificity", "source"],
           [[m.model_id, f"{m.probability:.3f}", f"{m.threshold:.3f}",
             "tumour" if m.calls_tumour else "no tumour", _num(m.sensitivity),
             _num(m.specificity), m.performance_source]
            for m in [*(row.result for row in r.models), *r.combined]],
           (52, 17, 17, 17, 20, 20, 47))
    if doubts := [f"{m.model_id}: {m.orientation}" for m in r.combined if m.orientation_warning]:
        _lines(pdf, doubts)
    _heading(pdf, "Measurements")
    if r.measurements:
        _measurements(pdf, r.measurements)
    else:
        _lines(pdf, ["No tumour mask was available (no reference mask, no model with a tumour map)."])
    _overlay_grid(pdf, r)
    if spotted := [m for m in [*(row.result for row in r.models), *r.combined] if m.weak_spots]:
        _heading(pdf, "Where the models fail (cross-validated, patients they never saw)")
        _lines(pdf, [f"{m.model_id}: " + " ".join(m.weak_spots) for m in spotted])
    _heading(pdf, "Weights")
    _table(pdf, ["model", "architecture", "weights SHA-256"],
           [[m.model_id, m.architecture, m.weights_sha256] for m in r.models], (45, 45, 100), size=6)


def _num(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}"


def _measurements(pdf: FPDF, measurements: Sequence[SliceMeasurements]) -> None:
    rows = []
    for m in measurements:
        if not m.lesions:
            rows.append([m.source, "none", "", "", "", "", "", "", "", ""])
        for lesion in m.lesions[:8]:
            rows.append([
                m.source, str(lesion.number) + (" (border)" if lesion.touches_border else ""),
                fmt_length(lesion.long_axis, m.unit), fmt_length(lesion.short_axis, m.unit),
                fmt_area(lesion.area, m.unit),
                _hu(lesion.lesion_hu), _hu(lesion.liver_hu), lesion.attenuation or "not stated",
                lesion.side or "n/a",
                "n/a" if lesion.edge_distance is None else fmt_length(lesion.edge_distance, m.unit)])
    _table(pdf, ["source", "lesion", "longest", "perpendicular", "area", "lesion HU", "liver HU",
                 "attenuation", "side of liver", "to liver edge"], rows,
           (30, 14, 16, 18, 18, 18, 18, 20, 22, 16), size=6)
    lines = []
    for m in measurements:
        burden = "n/a" if m.tumour_burden is None else f"{m.tumour_burden:.1%}"
        liver = "n/a" if m.liver_area is None else fmt_area(m.liver_area, m.unit)
        lines.append(f"{m.source}: liver area {liver} (liver outline: {m.liver_source or 'none'}), "
                     f"tumour burden on this slice {burden}"
                     + (f"; {m.dropped_small} region(s) under 10 px ignored" if m.dropped_small else ""))
    notes = sorted({note for m in measurements for note in m.notes})
    _lines(pdf, lines + notes, size=7)
    pdf.ln(1)


def _hu(stats: HUStats | None) -> str:
    return "n/a" if stats is None else f"{stats.mean:.0f} ± {stats.std:.0f}"


def _overlay_grid(pdf: FPDF, r: SliceReport) -> None:
    """Three overlays per row, each captioned with model, method, parameters and lesion overlap."""
    made = [o for o in r.overlays if o.image is not None]
    if not r.overlays:
        return
    _heading(pdf, "Explanations (evidence for tumour)")
    width, gap = 60.0, 5.0
    for start in range(0, len(made), 3):
        if pdf.get_y() + width + 18 > pdf.h - 15:
            pdf.add_page()
        top = pdf.get_y()
        for i, o in enumerate(made[start:start + 3]):
            x = 10 + i * (width + gap)
            height = _image(pdf, o.image, x, top, width)
            params = ", ".join(f"{k}={v}" for k, v in sorted(o.params.items())) or "none"
            mass = "n/a" if o.mass_in_lesion is None else f"{o.mass_in_lesion:.0%}"
            pdf.set_xy(x, top + height + 0.5)
            pdf.set_font("helvetica", "", 6)
            pdf.multi_cell(width, 2.8, align="L", text=latin1(
                f"{o.method_label}, {o.model_id}{' (blank map)' if o.is_blank else ''}; params: "
                f"{params}; mass in lesion {mass}; {o.runtime_s:.2f} s"))
        pdf.set_y(top + width + 14)
    missing = [f"{o.method_label} / {o.model_id}: {o.unavailable}" for o in r.overlays if o.unavailable]
    if missing:
        _lines(pdf, missing, size=6)


def _volume(pdf: FPDF, r: VolumeReport) -> None:
    _heading(pdf, "LiverLens case report: series", 14)
    _lines(pdf, [
        f"Report date: {r.created}    Software: {r.software}",
        f"Input: {r.series_label}, {r.n_slices} slices"
        + (f"; input SHA-256 {r.input_sha256[:16]}..." if r.input_sha256 else ""),
    ])
    top = pdf.get_y() + 1
    height = _image(pdf, r.chart, 10, top, PAGE_WIDTH)
    pdf.set_y(top + height + 2)
    _heading(pdf, "Top slices (highest mean p(tumour) over the models)")
    ids = list(r.probabilities)
    _table(pdf, ["slice number", "mean p(tumour)", "models calling tumour"],
           [[str(i + 1), f"{np.mean([r.probabilities[k][i] for k in ids]):.3f}",
             f"{sum(r.probabilities[k][i] >= r.thresholds[k] for k in ids)} of {len(ids)}"]
            for i in r.top_positions], (40, 40, 110))
    for report in r.top_slices:
        pdf.add_page()
        _slice(pdf, report, title=f"Top slice: {report.slice_label}")
