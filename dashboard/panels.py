"""Render pieces shared by several pages: predictions, the explanation fragment, the heatmap grid.

Each function draws with Streamlit and takes what it draws as arguments; the numbers come from
``dashboard.caching`` (which calls ``liver_model``), the figures from ``dashboard.charts``.
"""
from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import streamlit as st

from dashboard import caching, charts, cv_view, summaries, widgets
from dashboard.uploads import SliceRef
from liver_model.errors import LiverLensError
from liver_model.explain.base import METHODS
from liver_model.flip_agreement import combined_orientation_note, orientation_note
from liver_model.explain.overlay import draw_segmentation_outline, overlay_heatmap, slice_grey

LOGGER = logging.getLogger(__name__)
SETTINGS_SUFFIX = "_settings"
"""``explanation_panel(key=K)`` keeps its :class:`widgets.ExplainSettings` in the session under
``K + SETTINGS_SUFFIX``, so the case report uses the methods and parameters chosen there."""

#: What a label-only model shows where a segmentation model shows its outline.
NO_SEGMENTATION = "no segmentation: labels-only model"


def predictions(ref: SliceRef, cards: Sequence[Any]) -> dict[str, float]:
    """p(tumour) of every model for one slice (cached per model, file hash and slice)."""
    return {card.model_id: caching.slice_probability(card.model_id, ref.file_sha, ref.index_in_file, ref.ct)
            for card in cards}


def flip_copies(ref: SliceRef, cards: Sequence[Any]) -> dict[str, tuple[float, ...]]:
    """Each test-time-flipped model's copies' own p(tumour) for one slice (cached)."""
    return {card.model_id: caching.flip_probabilities(card.model_id, ref.file_sha, ref.index_in_file, ref.ct)
            for card in cards if card.test_time_flips > 1}


def prediction_cards(probabilities: dict[str, float], cards: Sequence[Any],
                     ensembles: Sequence[Any] = (),
                     flip_copies: dict[str, tuple[float, ...]] | None = None) -> summaries.Agreement:
    """The combined call of each shipped ensemble, then every model's call and confidence (its
    p(tumour) as a bar), then the agreement summary.

    Each model is judged at its own threshold, so a call can be "tumour" at p = 0.3; the
    threshold is printed next to the probability so the bar is read against it, not against
    50 %, and under it what that threshold means (tumour slices found, normal ones flagged).
    The agreement counts models only: an ensemble repeats its members' votes. ``flip_copies``
    (from :func:`flip_copies`) adds, under a test-time-flipped model, its copies' own calls.
    """
    flip_copies = flip_copies or {}
    thresholds = {c.model_id: float(c.threshold) for c in cards}
    for ensemble in ensembles:
        p = caching.ensemble_probability(ensemble, probabilities)
        with st.container(border=True):
            st.markdown(f"**Combined call, {ensemble.ensemble_id}**: "
                        f"{_call_markdown(p >= ensemble.threshold)}")
            st.progress(float(p), text=f"p(tumour) = {p:.3f} · threshold {ensemble.threshold:.3f}")
            st.caption(summaries.members_sentence(ensemble, probabilities, thresholds))
            if doubt := _combined_doubt(ensemble, flip_copies):
                st.warning(doubt)
            st.caption(summaries.ensemble_sentence(ensemble))
            st.caption(summaries.threshold_sentence(ensemble))
            _weak_spots(ensemble)
    result = summaries.agreement(probabilities, thresholds)
    (st.success if result.unanimous else st.warning)(result.sentence())
    for card in cards:
        p = probabilities[card.model_id]
        with st.container(border=True):
            tag = f" · :orange-badge[{summaries.SHORTCUT_BASELINE}]" if summaries.is_label_only(card) else ""
            st.markdown(f"**{card.model_id}** ({card.family}, {card.input_size} px): "
                        f"{_call_markdown(p >= thresholds[card.model_id])}{tag}")
            st.progress(float(p), text=f"p(tumour) = {p:.3f} · threshold {thresholds[card.model_id]:.3f}")
            st.caption(summaries.threshold_sentence(card))
            _weak_spots(card)
            if note := summaries.view_note(card):
                st.caption(note)
            if copies := flip_copies.get(card.model_id):
                text, warn = orientation_note(copies, caching.flip_agreement(card.model_id))
                (st.warning if warn else st.caption)(text)
    return result


def _weak_spots(card: Any) -> None:
    """Where the model fails on patients it never saw, folded away under its call."""
    if spots := cv_view.weak_spots_of(card):
        with st.expander("Where it fails (cross-validated)"):
            st.markdown("\n".join(f"- {spot}" for spot in spots))


def call_table(probabilities: dict[str, float], cards: Sequence[Any], ensembles: Sequence[Any] = (),
               flip_copies: dict[str, tuple[float, ...]] | None = None) -> pd.DataFrame:
    """One row per model, then per ensemble (its combined call): p(tumour), threshold, call, and
    for a test-time-flipped model the spread of its copies' own p (blank for one pass)."""
    flip_copies = flip_copies or {}
    rows = [(c.model_id, probabilities[c.model_id], c.threshold, flip_copies.get(c.model_id)) for c in cards]
    rows += [(f"{e.ensemble_id} (combined call)", caching.ensemble_probability(e, probabilities),
              e.threshold, None) for e in ensembles]
    return pd.DataFrame([{"model": name, "p(tumour)": round(p, 3), "threshold": round(t, 3),
                          "call": "tumour" if p >= t else "no tumour",
                          "flipped copies' spread": "" if not copies else f"{float(np.ptp(copies)):.2f}"}
                         for name, p, t, copies in rows])


def orientation_warnings(cards: Sequence[Any], ensembles: Sequence[Any],
                         flip_copies: dict[str, tuple[float, ...]]) -> None:
    """The orientation warnings of Diagnose's cards, for pages that show a table instead."""
    for card in cards:
        if copies := flip_copies.get(card.model_id):
            text, warn = orientation_note(copies, caching.flip_agreement(card.model_id))
            if warn:
                st.warning(f"{card.model_id}: {text}")
    for ensemble in ensembles:
        if doubt := _combined_doubt(ensemble, flip_copies):
            st.warning(f"{ensemble.ensemble_id} (combined call): {doubt}")


def _combined_doubt(ensemble: Any, flip_copies: dict[str, tuple[float, ...]]) -> str | None:
    """The combined call's orientation warning on this slice, or None."""
    doubt = combined_orientation_note(ensemble.members, flip_copies,
                                      {m: caching.flip_agreement(m) for m in ensemble.members},
                                      ensemble.ensemble_id)
    return doubt[0] if doubt else None


def _call_markdown(tumour: bool) -> str:
    return ":red[**Tumour**]" if tumour else ":green[**No tumour**]"


def _method_unavailable(cards: Sequence[Any]) -> dict[str, str]:
    """Methods no shipped model can run, with the reason from the method metadata."""
    out: dict[str, str] = {}
    for name, spec in METHODS.items():
        reasons = [widgets.method_available(spec, c.is_transformer, bool(c.cam_layer)) for c in cards]
        if reasons and all(reasons):
            out[name] = reasons[0] or ""
    return out


def _as_rgb(image: np.ndarray) -> np.ndarray:
    """Grey display images (an HU window) become RGB so a coloured heatmap can be laid over them."""
    return np.repeat(image[..., None], 3, axis=2) if image.ndim == 2 else image


def own_maps(card: Any, ref: SliceRef) -> Any:
    """The model's own ``SegmentationMaps`` of the slice (cached), or None for label-only models."""
    return caching.segmentation_maps(card.model_id, ref.file_sha, ref.index_in_file, ref.ct)


def with_own_outline(image: np.ndarray, maps: Any) -> np.ndarray:
    """``image`` with the model's liver and tumour contours, unchanged when it has no maps."""
    return image if maps is None else draw_segmentation_outline(image, maps.tumour_mask(), maps.liver_mask())


def own_outline(card: Any, ref: SliceRef, *, key: str, height: int, title: str) -> Any:
    """Draw the model's own outline on the bare slice, or say it has none; returns its maps."""
    maps = own_maps(card, ref)
    if maps is None:
        st.caption(f"{card.model_id}: {NO_SEGMENTATION}")
        return None
    image = with_own_outline(slice_grey(ref.ct.rgb), maps)
    st.plotly_chart(charts.image_figure(image, title=title, height=height),
                    key=key, config={"displaylogo": False})
    return maps


def get_explanation(card: Any, ref: SliceRef, method: str, params: dict[str, Any], target: str) -> Any:
    """Cached explanation, or None after showing why it could not be computed."""
    reason = widgets.method_available(METHODS[method], card.is_transformer, bool(card.cam_layer))
    if reason:
        st.caption(reason)
        return None
    try:
        return caching.explanation(card.model_id, ref.file_sha, ref.index_in_file, method,
                                   caching.params_key(params), target, ref.ct)
    except LiverLensError as err:
        st.warning(f"{card.model_id}: {err}")
        return None
    except Exception as err:  # noqa: BLE001 - one failing explainer must not blank the whole page
        LOGGER.exception("explanation %s failed on %s", method, card.model_id)
        st.error(f"{METHODS[method].label} failed on {card.model_id} ({type(err).__name__}: {err}). "
                 "The other results are unaffected; please report this.")
        return None


@st.fragment
def explanation_panel(ref: SliceRef, display: np.ndarray, cards: Sequence[Any], *, key: str) -> None:
    """Method toggles, parameters, opacity and one overlay per model x selected method.

    A fragment: moving the opacity slider or toggling a method reruns only this panel, never the
    upload parsing or the predictions above it; explanations come from the cache when known.
    """
    st.subheader("Why? Explanations")
    settings = widgets.explain_settings(key=key, unavailable=_method_unavailable(cards), n_models=len(cards))
    st.session_state[key + SETTINGS_SUFFIX] = settings
    outline, over = _outline_toggles(key)
    per_row = 3
    own: dict[str, Any] = {}
    if outline:
        st.markdown("#### Model's own outline")
        st.caption("Amber: the model's liver; magenta: its tumour (probability >= 0.5, inside its liver).")
        for start in range(0, len(cards), per_row):
            for col, card in zip(st.columns(per_row), cards[start:start + per_row]):
                with col:
                    own[card.model_id] = own_outline(card, ref, key=f"{key}_own_{card.model_id}",
                                                     height=330, title=f"{card.model_id}: own outline")
    if not settings.methods:
        st.info("Switch on an explanation method above to see where each model looked.")
        return
    base = _as_rgb(display)
    shown, started = 0, time.perf_counter()
    for method in settings.methods:
        spec = METHODS[method]
        st.markdown(f"#### {spec.label}")
        for start in range(0, len(cards), per_row):
            cols = st.columns(per_row)
            for col, card in zip(cols, cards[start:start + per_row]):
                with col:
                    exp = get_explanation(card, ref, method, settings.params[method], settings.target)
                    if exp is None:
                        continue
                    image = overlay_heatmap(base, exp.heatmap, opacity=settings.opacity,
                                            colour_map=settings.colour_map)
                    if over:
                        image = with_own_outline(image, own.get(card.model_id))
                    st.plotly_chart(charts.image_figure(image, title=card.model_id, height=330),
                                    key=f"{key}_{method}_{card.model_id}", config={"displaylogo": False})
                    note = f"p({exp.target_class}) {exp.probability:.2f} · computed in {exp.runtime_s:.2f} s"
                    if exp.is_blank:
                        note += " · blank map: the method found no evidence for this class"
                    st.caption(note)
                    shown += 1
    st.caption(f"{shown} explanation maps shown in {time.perf_counter() - started:.1f} s "
               "(maps computed before come from the cache).")


def _outline_toggles(key: str) -> tuple[bool, bool]:
    """The "Model's own outline" toggle and, when it is on, "also over the heatmaps"."""
    left, right = st.columns(2)
    outline = left.toggle("Model's own outline", key=f"{key}_outline",
                          help="Each segmentation model's predicted liver and tumour, beside its "
                               "heatmaps: does the explanation point where the model found tumour?")
    over = outline and right.toggle("Also over the heatmaps", key=f"{key}_outline_over")
    return outline, over


def explanation_grid(ref: SliceRef, cards: Sequence[Any], methods: Sequence[str], params: dict[str, dict[str, Any]],
                     target: str, *, as_overlay: bool, key: str, outline: bool = False) -> dict[tuple[str, str], Any]:
    """Models (rows) x methods (columns) of heatmaps for one slice; returns what was computed.

    Cells whose method cannot run on the model say why instead of drawing nothing. With
    ``outline`` a first column shows each model's own segmentation, also drawn over the overlays.
    """
    results: dict[tuple[str, str], Any] = {}
    first = 2 if outline else 1  # column of the first method
    widths = [1.4] + [2] * (len(methods) + first - 1)
    header = st.columns(widths)
    titles = ["Model's own outline"] * (first - 1) + [METHODS[m].label for m in methods]
    for col, title in zip(header[1:], titles):
        col.markdown(f"**{title}**")
    for card in cards:
        row = st.columns(widths)
        tag = f"  \n:orange[{summaries.SHORTCUT_BASELINE}]" if summaries.is_label_only(card) else ""
        row[0].markdown(f"**{card.model_id}**  \n{card.family}{tag}")
        maps = None
        if outline:
            with row[1]:
                maps = own_outline(card, ref, key=f"{key}_own_{card.model_id}", height=220, title="own outline")
        for col, method in zip(row[first:], methods):
            with col:
                exp = get_explanation(card, ref, method, params[method], target)
                if exp is None:
                    continue
                results[(card.model_id, method)] = exp
                title = "blank map" if exp.is_blank else f"{exp.runtime_s:.2f} s"
                fig = (charts.image_figure(with_own_outline(overlay_heatmap(ref.ct.rgb, exp.heatmap, opacity=0.5),
                                                            maps), title=title, height=220)
                       if as_overlay else charts.heatmap_figure(exp.heatmap, title=title, height=220))
                st.plotly_chart(fig, key=f"{key}_{card.model_id}_{method}", config={"displaylogo": False})
    return results
