"""The Home view: what LiverLens is, which models are shipped, and the disclaimer.

A callable page (``st.Page(home.render)``) rather than a file because it is also what
``streamlit_app.py`` shows first, and it needs no state of its own.
"""
from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st

from dashboard import caching, summaries, warmup_view
from liver_model.registry import get_architecture

DISCLAIMER = (
    "**LiverLens is a research and teaching tool, not a medical device.** It has not been "
    "clinically validated or approved by any regulator; its outputs must not be used to diagnose, "
    "treat or triage patients. The models were trained on a few dozen public research CT scans."
)


def model_table(cards: tuple) -> pd.DataFrame:
    """One row per shipped model card: what a reader needs to trust (or not) its numbers."""
    rows = []
    for card in cards:
        test = card.test_metrics or {}
        auc = (card.cross_validation or {}).get("roc_auc")
        rows.append({
            "model": card.model_id,
            "family": card.family,
            "input": f"{card.input_size}x{card.input_size}",
            "parameters": f"{card.params / 1e6:.2f} M",
            "initialisation": card.initialisation,
            "trained on": supervision(card),
            "threshold": round(card.threshold, 3),
            "CV ROC AUC [95 % CI]": summaries.with_interval(auc),
            "test ROC AUC": None if test.get("roc_auc") is None else round(test["roc_auc"], 3),
            "test sensitivity": None if test.get("sensitivity") is None else round(test["sensitivity"], 3),
            "test specificity": None if test.get("specificity") is None else round(test["specificity"], 3),
        })
    return pd.DataFrame(rows)


def supervision(card: Any) -> str:
    """What the model learnt from, with the shortcut-baseline tag on label-only models."""
    if get_architecture(card.architecture).segmentation:
        return "liver + tumour masks (segmentation)"
    if summaries.is_label_only(card):
        return summaries.SHORTCUT_BASELINE
    return "labels + tumour masks"


def render() -> None:
    """Draw the Home page."""
    st.title("LiverLens")
    st.markdown(
        "Explainable liver-tumour classification on single axial CT slices. Upload a slice "
        "(PNG/JPEG, DICOM in any PACS compression or a ZIP of a study, or a NIfTI volume) and every shipped model says whether it shows a liver "
        "tumour; Grad-CAM, LIME, SHAP and related methods show **where** each model looked, and "
        "the Performance page shows how well each model did on patients it never saw."
    )
    st.error(DISCLAIMER, icon="⚠️")
    warmup_view.render()
    st.info("No CT at hand? **Diagnose** and **Volume** have a **Try the example** button: a real "
            "20-slice abdominal CT (JPEG 2000 DICOM) shipped with LiverLens, from the TotalSegmentator "
            "project (Wasserthal et al. 2023, Apache-2.0 / CC BY 4.0).")
    st.subheader("Shipped models")
    cards = caching.shipped_cards()
    if not cards:
        st.info("No trained models are shipped in `assets/models/` yet. Train one with "
                "`python -m liver_model train --arch mobilenet_v3_small --manifest <dataset>/manifest.csv`.")
    else:
        st.dataframe(model_table(cards), hide_index=True, width="stretch")
        st.caption("Weights load and trace once per server process, when the server starts. Segmentation models draw "
                   "their own liver and tumour outline and take p(tumour) from it; their threshold "
                   "and CV ROC AUC come from patient-level cross-validation (every patient held out "
                   "once). The **shortcut baselines** saw the same slices with labels only, no masks: "
                   "their Grad-CAMs mostly peak on the spine and back (see Performance, explanation "
                   "quality), which is the point of keeping them.")
        for ensemble in caching.shipped_ensembles():
            st.markdown(f"**Combined call `{ensemble.ensemble_id}`** (shown first on Diagnose): "
                        + summaries.ensemble_sentence(ensemble) + " "
                        + summaries.threshold_sentence(ensemble) + " "
                        + summaries.cv_auc_sentence(ensemble))
        for card in cards:
            with st.expander(f"Model card: {card.model_id}"):
                st.markdown(f"**{card.architecture}** ({card.family}), {card.params:,} parameters, "
                            f"input {card.input_size} px, initialised: {card.initialisation_detail or card.initialisation}.")
                st.markdown(f"Trained {card.epochs_run} epochs (best {card.best_epoch}) in "
                            f"{card.training_time_s / 60:.1f} min on {card.hardware or 'unknown hardware'}; "
                            f"seed {card.seed}. Threshold {card.threshold:.3f}: {card.threshold_rule}")
                st.markdown(summaries.threshold_sentence(card))
                if note := summaries.view_note(card):
                    st.markdown(note)
                if card.notes:
                    st.caption(card.notes)
    st.subheader("Pages")
    st.markdown(
        "- **Diagnose**: one or several slices, every model's p(tumour), explanations with opacity and zoom.\n"
        "- **Compare**: models x methods grid of heatmaps for one slice, with agreement statistics.\n"
        "- **Performance**: cross-validation over every patient (with baselines, per-patient AUC, "
        "lesion detection by size, Dice), the fixed test split's confusion matrices and ROC/PR/"
        "calibration, training curves, explanation quality; CSV download.\n"
        "- **Volume**: p(tumour) along z for a NIfTI volume or DICOM series; open any slice in Diagnose.\n"
        "- **Teaching**: a gallery from a dataset folder with ground-truth masks and a guided "
        "\"does the explanation point at the tumour?\" exercise."
    )
