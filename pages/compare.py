"""Compare: every model x every chosen method on one slice, and how much they agree.

Layout only; explanations come (cached) from ``dashboard.panels`` / ``dashboard.caching``.
"""
from __future__ import annotations

import pandas as pd
import streamlit as st

from dashboard import caching, navigation, panels, report_view, summaries, uploads, widgets
from liver_model.explain.base import METHODS

navigation.ensure_app_navigation()

st.title("Compare models and explanation methods")
st.caption("Research and teaching tool, not a medical device.")

cards = caching.shipped_cards()
bundle = uploads.slice_source("compare_upload")
if bundle is None:
    st.info("Upload a slice here or on Diagnose; the last uploaded slice is compared. " + uploads.FORMATS_HELP)
    st.stop()
ref = uploads.pick_slice(bundle, key="compare_slice")
if not cards:
    st.warning("No trained models are shipped in `assets/models/`, so there is nothing to compare.")
    st.stop()

st.subheader("Agreement between models")
probabilities = panels.predictions(ref, cards)
agreement = summaries.agreement(probabilities, {c.model_id: c.threshold for c in cards})
st.markdown(agreement.sentence())
copies = panels.flip_copies(ref, cards)
st.dataframe(panels.call_table(probabilities, cards, caching.shipped_ensembles(), copies), hide_index=True)
panels.orientation_warnings(cards, caching.shipped_ensembles(), copies)

st.subheader("Heatmaps")
fast = [m for m, spec in METHODS.items() if spec.relative_cost < widgets.SLOW_COST]
c1, c2, c3, c4 = st.columns([4, 1, 1, 1.6])
methods = c1.multiselect("Methods", list(METHODS), default=[m for m in ("gradcam", "gradcam++", "saliency") if m in fast],
                         format_func=lambda m: METHODS[m].label, key="compare_methods",
                         help="LIME, SHAP and Score-CAM run the model hundreds of times per map; "
                              "on a 2-core CPU a full grid of them takes minutes (results are cached).")
preset = c2.radio("Preset", ["fast", "thorough"], key="compare_preset")
target = c3.radio("Evidence for", ["tumour", "normal"], key="compare_target")
as_overlay = c4.toggle("Overlay", value=True, key="compare_overlay", help="Off: the bare heatmap with values on hover.")
outline = c4.toggle("Model's own outline", key="compare_outline",
                    help="Each segmentation model's predicted liver (amber) and tumour (magenta), beside and over its heatmaps.")
if not methods:
    st.info("Choose at least one method.")
    st.stop()
params = {m: METHODS[m].params_for(preset if preset in METHODS[m].presets else None, {}) for m in methods}
results = panels.explanation_grid(ref, cards, methods, params, target, as_overlay=as_overlay, key="compare_grid",
                                   outline=outline)
report_view.grid_png_button(ref, results, [c.model_id for c in cards], methods, key="compare_grid_png")

st.subheader("Agreement between methods (per model)")
st.caption("Spearman rank correlation of the heatmaps within the body crop the models saw, averaged over "
           "models. 1 = same ranking of pixels, 0 = unrelated, NaN = a blank map.")
if len(methods) > 1:
    names, mean = summaries.mean_correlation({c.model_id: {m: results[(c.model_id, m)].model_input_heatmap
                                                       for m in methods if (c.model_id, m) in results}
                                           for c in cards}, methods)
    st.dataframe(pd.DataFrame(mean, index=[METHODS[n].label for n in names],
                              columns=[METHODS[n].label for n in names]).style.format("{:.2f}", na_rep="n/a"))
else:
    st.caption("Choose two or more methods to compare them.")

st.subheader("Agreement between models (per method)")
for method in methods:
    maps = {c.model_id: results[(c.model_id, method)].model_input_heatmap for c in cards if (c.model_id, method) in results}
    if len(maps) < 2:
        continue
    names, matrix = summaries.correlation_matrix(maps)
    st.markdown(f"**{METHODS[method].label}**: rank correlation between models' maps on the slice")
    st.dataframe(pd.DataFrame(matrix, index=names, columns=names).style.format("{:.2f}", na_rep="n/a"))
