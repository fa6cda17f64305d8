"""Teaching: browse a labelled dataset folder, check the ground truth, and ask of each explanation
"does it point at the tumour?".

Layout only; dataset reading is in ``dashboard.datasets``, metrics in ``liver_model.explain.quality``.
"""
from __future__ import annotations

from pathlib import Path

import streamlit as st

from dashboard import caching, charts, datasets, metrics_view, navigation, panels, report_view, state, teaching
from liver_model.errors import LiverLensError
from liver_model.explain.base import METHODS

navigation.ensure_app_navigation()

st.title("Teaching")
st.caption("Research and teaching tool, not a medical device.")

folder = st.sidebar.text_input("Dataset folder", value=st.session_state.get(state.DATA_DIR) or "",
                               key="teaching_data_dir", help=teaching.HOW_TO_CONFIGURE)
st.session_state[state.DATA_DIR] = folder
if not folder.strip():
    st.info(teaching.HOW_TO_CONFIGURE)
    st.stop()
manifests = datasets.find_manifests(folder)
if not manifests:
    st.warning(f"No `manifest.csv` was found in `{folder}` or in its sub-folders.")
    st.info(teaching.HOW_TO_CONFIGURE)
    st.stop()
chosen = st.sidebar.selectbox("Dataset", manifests, format_func=lambda p: p.parent.name, key="teaching_dataset")
try:
    frame = datasets.manifest(str(chosen), chosen.stat().st_mtime)
except LiverLensError as err:
    st.error(str(err))
    st.stop()

subset = teaching.gallery_filters(frame)
pick = teaching.gallery(subset, key="teaching_gallery")
if pick is None:
    st.stop()

row = frame.loc[frame["path"] == pick].iloc[0]
ref = datasets.dataset_slice(row["path"])
mask = datasets.dataset_mask(row["mask_path"]) if row["mask_path"] else None
st.divider()
st.subheader(f"Study: {Path(row['path']).name} (patient {row['patient_id']})")

left, right = st.columns([3, 2])
with right:
    st.markdown("**1. Look at the slice.** Is there a liver tumour?")
    guess = st.radio("Your call", ["tumour", "no tumour", "not sure"], index=None, key=f"teaching_guess_{pick}")
    if guess is not None:
        truth = "tumour" if row["label"] == "tumour" else "no tumour"
        (st.success if guess == truth else st.info)(f"Ground truth: **{truth}** (from the expert mask).")
    show_mask = st.toggle("**2. Show the ground-truth mask** (green tumour, blue liver)", disabled=mask is None,
                          key="teaching_mask")
with left:
    st.plotly_chart(charts.image_figure(teaching.with_mask(ref.ct.rgb, mask if show_mask else None), title=ref.file_name),
                    key="teaching_image", config={"displaylogo": False})
teaching.synthetic_lesions(ref, mask)

cards = caching.shipped_cards()
if not cards:
    st.warning("No trained models are shipped in `assets/models/`, so there is no explanation to study.")
    st.stop()
st.markdown("**3. Does the explanation point at the tumour?**")
c1, c2 = st.columns(2)
best = metrics_view.best_pointing_model([c.model_id for c in cards])
card = c1.selectbox("Model", cards, format_func=lambda c: c.model_id, key="teaching_model",
                    index=next((i for i, c in enumerate(cards) if c.model_id == best), 0),
                    help="Opens on the model whose Grad-CAM pointed at the tumour most often on the "
                         "test patients.")
teaching.own_segmentation(ref, card, mask)
method = c2.selectbox("Method", list(METHODS), format_func=lambda m: METHODS[m].label, key="teaching_method")
with st.spinner("Explaining..."):
    exp = panels.get_explanation(card, ref, method, METHODS[method].params_for(None, {}), "tumour")
if exp is not None:
    teaching.explanation_study(ref, exp, mask, card, method, show_mask=show_mask)
report_view.teaching_measurements(ref, mask, card)
