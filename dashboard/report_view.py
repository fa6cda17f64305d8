"""Case-report downloads (Diagnose, Volume), the Compare figure export and Teaching's measurements.

The numbers and words come from ``liver_model.report`` / ``liver_model.measurements``; this module
only gathers what the user chose on the page (window, explanation methods), reuses the cached
models and explanations, and offers the files. Built files are kept in the session so the
download buttons survive reruns. Download names carry the date and a hash prefix, never the
uploaded file's name (which often holds a patient name or a DICOM UID).
"""
from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timezone
from typing import Any

import pandas as pd
import streamlit as st

from dashboard import caching, panels, widgets
from dashboard.uploads import SliceRef, UploadBundle
from liver_model.errors import LiverLensError
from liver_model.explain.base import METHODS
from liver_model.explain.overlay import overlay_heatmap
from liver_model.findings import fmt_area, fmt_length, source_phrase
from liver_model.masks import LabelMask
from liver_model.measurements import SliceMeasurements, measure_slice

LOGGER = logging.getLogger(__name__)
_BUILT = "report_view_built"


def window_name(choice: str | None) -> str:
    """The report window for a display choice of :func:`widgets.window_selector`."""
    if choice in widgets.DISPLAY_WINDOWS:
        return widgets.DISPLAY_WINDOWS[choice].name
    return widgets.ENCODED_CHANNELS.get(choice or "", "liver")


def slice_label(bundle: UploadBundle, ref: SliceRef) -> str:
    """Where the slice sits, without the file name."""
    kind = ref.ct.meta.get("format", "image")
    if not bundle.is_stack:
        return f"single slice ({kind} file)"
    position = bundle.slices.index(ref) + 1
    return f"slice {position} of {len(bundle.slices)} ({kind}, ordered along z)"


def _file_stem(digest: str) -> str:
    return f"liverlens_report_{datetime.now(timezone.utc):%Y%m%d_%H%M}_{digest[:8]}"


def _offer(key: str, stem: str, pdf: bytes, text: str, seconds: float) -> None:
    c1, c2 = st.columns(2)
    c1.download_button("Download PDF", pdf, file_name=f"{stem}.pdf", mime="application/pdf",
                       key=f"{key}_pdf", type="primary")
    c2.download_button("Download JSON", text.encode("utf-8"), file_name=f"{stem}.json",
                       mime="application/json", key=f"{key}_json")
    st.caption(f"Built in {seconds:.1f} s. No patient name, ID, birth date, accession number, "
               "institution or study date is copied into the report or its file name.")


def _build(key: str, identity: tuple, make: Callable[[], Any]) -> tuple[bytes, str, float] | None:
    """Build once per ``identity`` (cached in the session); show errors as messages."""
    from liver_model.report import render_pdf, report_json

    built = st.session_state.setdefault(_BUILT, {})
    if built.get(key, (None,))[0] == identity:
        return built[key][1]
    if not st.button("Build the case report", key=f"{key}_build"):
        return None
    started = time.perf_counter()
    try:
        with st.spinner("Measuring, explaining and writing the report..."):
            report = make()
            result = (render_pdf(report), report_json(report), time.perf_counter() - started)
    except LiverLensError as err:
        st.error(str(err))
        return None
    except Exception as err:  # noqa: BLE001 - a report bug must not take the page down
        LOGGER.exception("case report failed")
        st.error(f"The report could not be built ({type(err).__name__}). The page's results are "
                 "unaffected; please report this.")
        return None
    built[key] = (identity, result)
    return result


def slice_report_panel(bundle: UploadBundle, ref: SliceRef, cards: Sequence[Any], *, key: str,
                       window_key: str, explain_key: str) -> None:
    """PDF / JSON case report of the slice under review, with the page's window and methods."""
    from liver_model.report import build_slice_report

    settings = st.session_state.get(explain_key + panels.SETTINGS_SUFFIX)
    methods = tuple(settings.methods) if settings else widgets.DEFAULT_METHODS
    params = dict(settings.params) if settings else {}
    window = window_name(st.session_state.get(window_key))
    with st.expander("Case report (PDF and JSON, no patient data)", expanded=False):
        st.caption(f"Window: {window}; explanations: "
                   f"{', '.join(METHODS[m].label for m in methods) or 'none'} (as chosen above), "
                   "evidence for tumour; measurements from the models' own tumour maps.")

        def explainer(model: Any, prepared: Any, method: str, method_params: dict[str, Any]) -> Any:
            return caching.explanation(model.model_id, ref.file_sha, ref.index_in_file, method,
                                       caching.params_key(method_params), "tumour", ref.ct)

        def make() -> Any:
            models = [caching.get_model(card.model_id) for card in cards]
            return build_slice_report(ref.ct, models, slice_label=slice_label(bundle, ref),
                                      methods=methods, params=params, window=window,
                                      input_sha256=ref.file_sha, explainer=explainer,
                                      ensembles=caching.shipped_ensembles())

        identity = (ref.file_sha, ref.index_in_file, methods, repr(sorted(params.items())), window)
        result = _build(key, identity, make)
        if result is not None:
            _offer(key, _file_stem(ref.file_sha), *result)


def volume_report_panel(bundle: UploadBundle, probabilities: pd.DataFrame, cards: Sequence[Any],
                        *, key: str) -> None:
    """PDF / JSON report of a series: p(tumour) along z and the top slices in full."""
    from liver_model.report import build_volume_report

    with st.expander("Case report of the series (PDF and JSON, no patient data)", expanded=False):
        st.caption("The chart above, then the three slices with the highest mean p(tumour), each "
                   "with measurements, Grad-CAM of every model and a findings paragraph.")

        def make() -> Any:
            models = [caching.get_model(card.model_id) for card in cards]
            kind = bundle.slices[0].ct.meta.get("format", "image")
            return build_volume_report([r.ct for r in bundle.slices], models,
                                       series_label=f"{kind}, {len(bundle.slices)} slices",
                                       probabilities={c: probabilities[c].tolist() for c in probabilities},
                                       input_sha256=bundle.key, methods=("gradcam",),
                                       ensembles=caching.shipped_ensembles())

        result = _build(key, (bundle.key,), make)
        if result is not None:
            _offer(key, _file_stem(bundle.key), *result)


def grid_png_button(ref: SliceRef, results: Mapping[tuple[str, str], Any], model_ids: Sequence[str],
                    methods: Sequence[str], *, key: str) -> None:
    """One PNG of the models x methods grid, for a lecture slide."""
    from liver_model.report.figures import explanation_grid, png_bytes

    if not results:
        return
    images = {cell: overlay_heatmap(ref.ct.rgb, exp.heatmap, opacity=0.5) for cell, exp in results.items()}
    grid = explanation_grid(images, list(model_ids), {m: METHODS[m].label for m in methods},
                            title="LiverLens: evidence for tumour (research and teaching tool, "
                                  "not a medical device)")
    st.download_button("Download this grid as PNG", png_bytes(grid),
                       file_name=f"liverlens_grid_{ref.file_sha[:8]}.png", mime="image/png", key=key)


def measurement_rows(measurements: Sequence[SliceMeasurements]) -> pd.DataFrame:
    """One row per lesion (largest first) per source, in the source's unit."""
    rows = []
    for m in measurements:
        for lesion in m.lesions or [None]:
            rows.append({
                "measured on": m.source,
                "lesion": "none" if lesion is None else lesion.number,
                "longest": "" if lesion is None else fmt_length(lesion.long_axis, m.unit),
                "perpendicular": "" if lesion is None else fmt_length(lesion.short_axis, m.unit),
                "area": "" if lesion is None else fmt_area(lesion.area, m.unit),
                "side": "" if lesion is None or lesion.side is None else lesion.side,
                "attenuation": "" if lesion is None else (lesion.attenuation or "not stated"),
            })
    return pd.DataFrame(rows)


def compare_sentence(reference: SliceMeasurements, model: SliceMeasurements) -> str:
    """"The model measured 31 mm, the reference 34 mm" for the largest lesion of each."""
    def largest(m: SliceMeasurements) -> str:
        return fmt_length(m.lesions[0].long_axis, m.unit) if m.lesions else "no lesion"

    return (f"Largest lesion, longest diameter: {source_phrase(model.source)} measured "
            f"**{largest(model)}**, the reference mask **{largest(reference)}**.")


def teaching_measurements(ref: SliceRef, mask: LabelMask | None, card: Any) -> None:
    """The reference mask's measurements beside the model's own (when it predicts a map)."""
    st.markdown("**4. Measure the lesion: the model against the reference**")
    common = dict(hu=ref.ct.hu, hu_calibrated=ref.ct.hu_calibrated, spacing_mm=ref.ct.spacing_mm,
                  body_rgb=ref.ct.rgb)
    measured: list[SliceMeasurements] = []
    if mask is not None:
        measured.append(measure_slice(mask.tumour, mask.liver, source="reference mask",
                                      liver_source="reference mask", **common))
    maps = caching.segmentation_maps(card.model_id, ref.file_sha, ref.index_in_file, ref.ct)
    if maps is None:
        st.info(f"{card.model_id} gives one p(tumour) per slice and no tumour map, so it cannot be "
                "measured; choose a model with a map (e.g. a segmentation model).")
    else:
        liver = maps.liver_mask()
        liver_source = card.model_id
        if liver is None and mask is not None:
            liver, liver_source = mask.liver, "reference mask"
        measured.append(measure_slice(maps.tumour_mask(), liver, source=card.model_id,
                                      liver_source=liver_source if liver is not None else None,
                                      **common))
    if not measured:
        st.info("This slice has no reference mask and the model no map: nothing to measure.")
        return
    if len(measured) == 2:
        st.markdown(compare_sentence(measured[0], measured[1]))
    st.dataframe(measurement_rows(measured), hide_index=True, width="stretch")
    notes = sorted({note for m in measured for note in m.notes})
    if notes:
        st.caption(" ".join(notes))

