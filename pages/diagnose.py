"""Diagnose: one slice (or a volume / series), every model's call, and why.

Layout only; parsing, caching and drawing live in ``dashboard``.
"""
from __future__ import annotations

import streamlit as st

from dashboard import caching, charts, examples, navigation, panels, report_view, uploads, widgets

navigation.ensure_app_navigation()

st.title("Diagnose")
st.caption("Research and teaching tool, not a medical device.")

cards = caching.shipped_cards()
bundle = uploads.slice_source("diagnose_upload")
if bundle is None:
    st.info("Upload an axial CT slice to start: " + uploads.FORMATS_HELP)
    examples.offer_example(key="diagnose_example")
    st.stop()

ref = uploads.pick_slice(bundle, key="diagnose_slice")
left, right = st.columns([3, 2])
with left:
    display = widgets.window_selector(ref.ct, key="diagnose_window")
    st.plotly_chart(charts.image_figure(display, title=ref.label), key="diagnose_image",
                    config={"displaylogo": False})
with right:
    st.subheader("Predictions")
    if not cards:
        st.warning("No trained models are shipped in `assets/models/`, so there is nothing to predict with.")
        st.stop()
    probabilities = panels.predictions(ref, cards)
    panels.prediction_cards(probabilities, cards, caching.shipped_ensembles(),
                            panels.flip_copies(ref, cards))

panels.explanation_panel(ref, display, cards, key="diagnose_explain")
report_view.slice_report_panel(bundle, ref, cards, key="diagnose_report", window_key="diagnose_window",
                               explain_key="diagnose_explain")
