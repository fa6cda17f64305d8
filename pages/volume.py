"""Volume: p(tumour) of every model along z for a NIfTI volume or a DICOM series.

Click a point of the chart (or use the slider) to open that slice in Diagnose.
"""
from __future__ import annotations

import pandas as pd
import streamlit as st

from dashboard import caching, charts, examples, navigation, report_view, state, uploads
from liver_model.flip_agreement import series_spread_note, spread

navigation.ensure_app_navigation()

st.title("Volume")
st.caption("Research and teaching tool, not a medical device.")

cards = caching.shipped_cards()
bundle = uploads.slice_source("volume_upload", label="Upload a NIfTI volume (.nii / .nii.gz) or all DICOM files of a series")
if bundle is None or not bundle.is_stack:
    st.info("Upload a whole NIfTI volume, or every DICOM file of one series at once (or a ZIP of the "
            "study folder; slices are ordered by their position in the patient). A single slice belongs on Diagnose.")
    examples.offer_example(key="volume_example")
    st.stop()
if not cards:
    st.warning("No trained models are shipped in `assets/models/`, so there is nothing to predict with.")
    st.stop()

slices = [ref.ct for ref in bundle.slices]
with st.spinner(f"Predicting {len(slices)} slices with {len(cards)} models..."):
    probabilities = pd.DataFrame(
        {card.model_id: caching.stack_probabilities(card.model_id, bundle.key, slices) for card in cards})
probabilities.index.name = "slice position"
model_probabilities = probabilities.copy()
thresholds = {c.model_id: c.threshold for c in cards}
for ensemble in caching.shipped_ensembles():
    name = f"{ensemble.ensemble_id} (combined call)"
    probabilities[name] = caching.ensemble_probability(ensemble, model_probabilities)
    thresholds[name] = ensemble.threshold
current = min(int(st.session_state.get(state.ACTIVE_POSITION, 0)), len(slices) - 1)
figure = charts.probability_along_z_figure(probabilities, thresholds=thresholds, selected=current)
event = st.plotly_chart(figure, key="volume_chart", on_select="rerun", selection_mode="points",
                        config={"displaylogo": False})
st.caption("Dotted lines: each model's decision threshold. Click a point to open that slice in Diagnose.")
for card in cards:
    if card.test_time_flips > 1 and (note := series_spread_note(
            card.model_id, spread(caching.stack_predictions(card.model_id, bundle.key, slices)[1]),
            caching.flip_agreement(card.model_id))):
        (st.warning if note[1] else st.caption)(note[0])

clicked = [int(p["x"]) for p in (event.selection.points if event and event.selection else []) if "x" in p]
position = st.slider("Slice to open", 0, len(slices) - 1, value=current, key=f"volume_pick_{bundle.key[:12]}")
st.caption(bundle.slices[position].label)
if clicked or st.button("Open this slice in Diagnose", type="primary"):
    state.set_active(bundle, clicked[0] if clicked else position)
    st.switch_page("pages/diagnose.py")

calls = (probabilities >= pd.Series(thresholds)).sum()
st.dataframe(pd.DataFrame({"slices called tumour": calls, "max p(tumour)": probabilities.max().round(3),
                           "slice of max": probabilities.idxmax()}), width="stretch")
st.download_button("Download p(tumour) per slice (CSV)", probabilities.to_csv().encode(),
                   file_name="liverlens_volume_probabilities.csv", mime="text/csv")
report_view.volume_report_panel(bundle, model_probabilities, cards, key="volume_report")
