"""Pieces of the Teaching page: gallery, ground-truth overlay and the guided explanation check."""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import streamlit as st

from dashboard import caching, charts, datasets, metrics_view, panels, state
from dashboard.uploads import SliceRef
from liver_model.explain.evaluate import EvalSlice, chance_levels
from liver_model.explain.overlay import (draw_mask_outline, draw_segmentation_outline, overlay_heatmap,
                                         slice_grey)
from liver_model.explain.quality import DEFAULT_TOLERANCE_PX, energy_pointing, pointing_game
from liver_model.masks import LabelMask
from liver_model.segmentation_metrics import dice
from liver_model.synthesis.examples import SyntheticExample, synthetic_examples

HOW_TO_CONFIGURE = (
    "No dataset folder is configured, and none ships with LiverLens (public CT collections are "
    "licensed for non-commercial use only). To use the gallery, enter a folder in the sidebar, or "
    "start the app with `LIVERLENS_DATA_DIR=/path/to/folder streamlit run streamlit_app.py`. The "
    "folder must hold a `manifest.csv` (or sub-folders that each hold one) with the columns "
    "`path, label, mask_path, patient_id`: paths relative to the manifest, `label` is `tumour` "
    "or `normal`, `mask_path` a PNG label map (0 background, 1 liver, 2 tumour) or empty."
)
PAGE_SIZE = 12
LIVER_COLOUR = (0, 128, 255)
"""Liver outline colour (blue), distinct from the green tumour outline of ``overlay``."""
LARGE_TUMOUR_PX = 500
"""Tumour pixels from which a lesion is clearly visible at 512 px; used by the filter."""
SYNTHETIC_COUNT = 3
"""Synthetic-lesion examples shown per studied slice."""
SYNTHETIC_COLOUR = (255, 0, 255)
"""Outline colour of synthetic lesions (magenta), never the green of real tumours."""


def gallery_filters(frame: pd.DataFrame) -> pd.DataFrame:
    """Sidebar filters (label, patient, large tumours only) applied to the manifest."""
    label = st.sidebar.selectbox("Label", ["all", "tumour", "normal"], key="teaching_label")
    patients = ["all", *sorted(frame["patient_id"].unique())]
    patient = st.sidebar.selectbox("Patient", patients, key="teaching_patient")
    out = frame
    if label != "all":
        out = out[out["label"] == label]
    if patient != "all":
        out = out[out["patient_id"] == patient]
    if "tumour_pixels" in frame.columns and st.sidebar.checkbox(
            f"Only clearly visible tumours (>= {LARGE_TUMOUR_PX} px)", key="teaching_large"):
        out = out[pd.to_numeric(out["tumour_pixels"], errors="coerce").fillna(0) >= LARGE_TUMOUR_PX]
    return out


def gallery(subset: pd.DataFrame, *, key: str) -> str | None:
    """A page of thumbnails with a "Study" button each; returns the path of the studied slice."""
    st.subheader("Gallery")
    if subset.empty:
        st.info("No slice matches these filters.")
        return None
    pages = max(1, int(np.ceil(len(subset) / PAGE_SIZE)))
    page = st.number_input(f"Page (of {pages}; {len(subset)} slices)", 1, pages, 1, key=f"{key}_page")
    shown = subset.iloc[(page - 1) * PAGE_SIZE: page * PAGE_SIZE]
    cols = st.columns(6)
    for i, (_, row) in enumerate(shown.iterrows()):
        with cols[i % len(cols)]:
            try:
                ref = datasets.dataset_slice(row["path"])
            except Exception as err:  # noqa: BLE001 - one unreadable file must not break the gallery
                st.caption(f"unreadable: {err}")
                continue
            st.image(datasets.thumbnail(ref.ct), caption=f"{row['patient_id']} · {row['label']}")
            if st.button("Study", key=f"{key}_study_{row['path']}"):
                st.session_state[state.TEACHING_PICK] = row["path"]
    pick = st.session_state.get(state.TEACHING_PICK)
    return pick if pick in set(subset["path"]) else None


def with_mask(rgb: np.ndarray, mask: LabelMask | None) -> np.ndarray:
    """The slice in the liver window (grey), with liver (blue) and tumour (green) outlines if given."""
    grey = slice_grey(rgb, "liver")
    if mask is None:
        return grey
    return draw_mask_outline(draw_mask_outline(grey, mask.liver, colour=LIVER_COLOUR), mask.tumour)


def slice_dice(maps: Any, mask: LabelMask) -> dict[str, float | None]:
    """Dice of the model's own tumour and liver masks against the reference on this slice.

    None where it is undefined: both masks empty (a normal slice the model also left empty), or
    a model that predicts no liver.
    """
    liver = maps.liver_mask()
    return {"tumour": dice(maps.tumour_mask(), mask.tumour),
            "liver": None if liver is None else dice(liver, mask.liver)}


def dice_sentence(scores: dict[str, float | None]) -> str:
    """The slice's Dice scores in words: 1 = the model's outline covers the expert's exactly."""
    def fmt(value: float | None) -> str:
        return "n/a (both empty)" if value is None else f"**{value:.2f}**"

    return (f"Dice on this slice: tumour {fmt(scores['tumour'])}, liver {fmt(scores['liver'])} "
            "(1 = the model's outline matches the expert's exactly, 0 = no overlap).")


def own_segmentation(ref: SliceRef, card: Any, mask: LabelMask | None) -> None:
    """The model's own outline next to the reference mask, with that slice's Dice."""
    maps = panels.own_maps(card, ref)
    if maps is None:
        st.caption(f"{card.model_id}: {panels.NO_SEGMENTATION}; it cannot say where the tumour is, "
                   "only the explanations below can hint at where it looked.")
        return
    left, right = st.columns(2)
    left.plotly_chart(charts.image_figure(with_mask(ref.ct.rgb, mask), title="Reference (expert) mask", height=330),
                      key="teaching_reference", config={"displaylogo": False})
    own = draw_segmentation_outline(slice_grey(ref.ct.rgb), maps.tumour_mask(), maps.liver_mask())
    right.plotly_chart(charts.image_figure(own, title=f"{card.model_id}: own outline", height=330),
                       key="teaching_own", config={"displaylogo": False})
    st.caption("Reference: green tumour, blue liver. Model: magenta tumour, amber liver.")
    if mask is None:
        st.info("This slice has no reference mask, so Dice cannot be computed.")
    else:
        st.markdown(dice_sentence(slice_dice(maps, mask)))


def verdict(pointing: float, energy: float, chance: dict[str, float]) -> str:
    """Plain-language reading of the two localisation scores of one explanation.

    ``chance`` holds what a uniform map over the model's field of view scores on this slice
    (``liver_model.explain.evaluate.chance_levels``): a small tumour makes any energy share look
    low, so the number is only meaningful next to its chance level.
    """
    if np.isnan(pointing):
        return "This slice has no tumour in the mask (or the map is empty), so there is nothing to point at."
    hit = "lies **on the tumour**" if pointing == 1.0 else "lies **outside the tumour**"
    base = chance["chance_energy_tumour"]
    ratio = f"{energy / base:.1f}x" if base > 0 else "n/a"
    return (f"The map's hottest point {hit} (a randomly placed point would hit it "
            f"{chance['chance_pointing_tumour']:.0%} of the time). {energy:.0%} of the map's mass falls inside "
            f"the tumour, against {base:.1%} for a uniform map: {ratio} chance.")


def explanation_study(ref: SliceRef, exp: Any, mask: LabelMask | None, card: Any, method: str, *,
                      show_mask: bool) -> None:
    """The explanation over the slice, its localisation scores here, and the test-set context."""
    image = overlay_heatmap(ref.ct.rgb, exp.heatmap, opacity=0.5)
    left, right = st.columns([3, 2])
    with left:
        shown = draw_mask_outline(image, mask.tumour) if (mask is not None and show_mask) else image
        st.plotly_chart(charts.image_figure(shown, title=f"{card.model_id}: p(tumour) {exp.probability:.2f}"),
                        key="teaching_explanation", config={"displaylogo": False})
    with right:
        if exp.is_blank:
            st.warning("The map is blank: the method found no evidence for a tumour on this slice.")
        if mask is None:
            st.info("This slice has no ground-truth mask, so localisation cannot be scored.")
        else:
            pointing = pointing_game(exp.heatmap, mask.tumour, DEFAULT_TOLERANCE_PX)
            energy = energy_pointing(exp.heatmap, mask.tumour)
            chance = chance_levels(caching.model_input(card.model_id, ref.file_sha, ref.index_in_file, ref.ct),
                                   EvalSlice(ref.ct, mask.tumour, mask.liver, ref.file_name), DEFAULT_TOLERANCE_PX)
            st.markdown(verdict(pointing, energy, chance))
            if not show_mask:
                st.caption("Switch on the ground-truth mask (step 2) to see the tumour outline on the map.")
        context = metrics_view.quality_row(card.model_id, method)
        if context:
            st.markdown("**On the test patients** (explanation-quality evaluation):")
            st.dataframe(pd.DataFrame([context]).T.rename(columns={0: "value"}), width="stretch")


@st.cache_data(max_entries=8, show_spinner="Drawing synthetic lesions...")
def _synthetic(rgb: np.ndarray, liver: np.ndarray, tumour: np.ndarray) -> list[SyntheticExample]:
    """Cached: the examples are seeded, so the same slice always gets the same lesions."""
    return synthetic_examples(rgb, liver, tumour, count=SYNTHETIC_COUNT)


def synthetic_lesions(ref: SliceRef, mask: LabelMask | None) -> None:
    """Expander with synthetic lesions drawn into this slice's liver, labelled SYNTHETIC."""
    with st.expander("Synthetic lesions (training augmentation)"):
        st.caption("SYNTHETIC: these lesions are made up. The shipped efficientnet_lite0_unet was "
                   "trained with lesions like these drawn into tumour-free livers (Hu et al., CVPR "
                   "2023): a distorted ellipse, darker than the liver around it, with noise "
                   "texture and a soft rim, placed away from vessels. Cross-validated, that found "
                   "more real lesions of every size than training on real lesions alone (see "
                   "Performance). Top: the real slice; bottom: with the synthetic lesion, "
                   "outlined in magenta.")
        if mask is None or not mask.liver.any():
            st.info("This slice has no liver in its mask, so no synthetic lesion can be drawn.")
            return
        examples = _synthetic(ref.ct.rgb, mask.liver, mask.tumour)
        if not examples:
            st.info("The liver on this slice is too small for a synthetic lesion.")
            return
        for i, (col, example) in enumerate(zip(st.columns(SYNTHETIC_COUNT), examples), start=1):
            y0, x0, y1, x1 = example.box
            before = slice_grey(example.before, "liver")[y0:y1, x0:x1]
            after = draw_mask_outline(slice_grey(example.after, "liver"), example.tumour,
                                      colour=SYNTHETIC_COLOUR, thickness=1)[y0:y1, x0:x1]
            col.image(before, caption=f"Real slice (zoomed) #{i}", width="stretch")
            col.image(after, caption=f"SYNTHETIC lesion #{i}: {example.contrast_hu:.0f} HU darker "
                                     "than the liver around it", width="stretch")
