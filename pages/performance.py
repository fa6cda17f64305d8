"""Performance: how each shipped model did on patients it never saw (cross-validation and the
fixed test split), and how it trained.

Layout only; the numbers come from the shipped metric files via ``dashboard.metrics_view`` and
``dashboard.cv_view``.
"""
from __future__ import annotations

import streamlit as st

from dashboard import (caching, charts, cv_charts, cv_view, learning_curve_view, metrics_view, navigation,
                       recipe_view, summaries)

navigation.ensure_app_navigation()

st.title("Performance on patients the models never saw")
st.caption("Research and teaching tool, not a medical device. Slice-level metrics: first every patient "
           "held out once (cross-validation), then the fixed test split, whose patients were never used "
           "for training or choosing thresholds of the models trained on the fixed split.")

cards = caching.shipped_cards()
report = metrics_view.load_json(metrics_view.TEST_METRICS)
per_model = metrics_view.per_model_metrics(report) if report else {}
ensembles = caching.shipped_ensembles()
cv_reports = cv_view.load_reports([*cards, *ensembles])
available = sorted({c.model_id for c in cards} | set(per_model) | set(cv_reports))
if not available:
    st.info("No shipped models and no test metrics yet. Train models, then run "
            "`python -m liver_model evaluate --manifest <dataset>/manifest.csv --out assets/metrics/test_metrics.json`.")
    st.stop()
shipped_ids = {c.model_id for c in [*cards, *ensembles]}
selected = st.multiselect("Models", available, default=[m for m in available if m in shipped_ids],
                          key="performance_models",
                          help="Shipped models and combined calls are selected; add a recipe that was "
                               "tried and not shipped (an ablation) to see its full cross-validation.")
baselines = [c.model_id for c in cards if summaries.is_label_only(c)]
if baselines:
    st.caption(f"**Shortcut baselines** (slice labels only): {', '.join(baselines)}. Same data, no masks: "
               "their numbers show what slice labels alone teach, and their Grad-CAMs show where they look.")
chosen = {k: v for k, v in per_model.items() if k in selected}

st.header("Cross-validation (every patient held out once)")
cv_chosen = {k: v for k, v in cv_reports.items() if k in selected}
if not cv_chosen:
    st.info("No selected model has a cross-validation report (`assets/metrics/cv_<model>.json`, "
            "from `python -m liver_model cv`). Shortcut baselines are not cross-validated.")
for model_id, cv in cv_chosen.items():
    st.subheader(f"{model_id}: cross-validated" + ("" if model_id in shipped_ids else " (ablation: recipe not shipped)"))
    st.caption(cv_view.report_caption(cv))
    st.dataframe(cv_view.summary_table(model_id, cv).round(3), hide_index=True, width="stretch")
    left, right = st.columns([3, 2])
    left.plotly_chart(cv_charts.per_patient_auc_figure(cv_view.per_patient(cv), title=f"{model_id}: ROC AUC per "
                                                       "patient (out of fold)"), key=f"performance_cv_patients_{model_id}")
    if (losses := cv_view.auc_losses(cv)) is not None:
        left.markdown("**Where the pooled ROC AUC is lost: the costliest patients**")
        left.dataframe(cv_view.auc_cost_table(losses).round(3), hide_index=True, width="stretch")
        left.caption("Every wrongly ranked pair (a tumour slice scored below a tumour-free one) belongs to two "
                     "patients, so the loss splits exactly by patient. \"If ranked right\": the pooled ROC AUC "
                     "with that patient's slices all ranked right. " + cv_view.target_path_note(losses))
    with right:
        if cv_view.is_ensemble(cv):
            st.markdown(f"**Ensemble of {', '.join(cv['members'])}**: no outline of its own, so no "
                        "lesion detection or Dice; see its members. Difference to each member "
                        "(paired bootstrap over patients):")
            st.dataframe(cv_view.ensemble_table(cv).round(3), hide_index=True, width="stretch")
        else:
            st.markdown("**Lesions found by the model's tumour outline, by size**")
            st.dataframe(cv_view.lesion_table(cv).round(3), hide_index=True, width="stretch")
        if not (shares := cv_view.detection_bins_table(cv, "detection_by_liver_share")).empty:
            st.markdown("**Tumour slices found, by how much liver surrounds the tumour**")
            st.dataframe(shares.round(3), hide_index=True, width="stretch")
            st.caption("Liver share: the reference mask's liver pixels / (liver + tumour) pixels on the slice. "
                       "The detectors look for tumour inside their own liver map, so a tumour lying outside "
                       "the liver on a slice is missed by design.")
        if not (faint := cv_view.detection_bins_table(cv, "detection_by_lesion_contrast")).empty:
            st.markdown("**Tumour slices found, by how dark the lesion is against the liver**")
            st.dataframe(faint.round(3), hide_index=True, width="stretch")
            st.caption(f"Contrast: the slice's largest lesion's median HU below the liver around it "
                       f"(negative = brighter than the liver); "
                       f"{cv['detection_by_lesion_contrast'].get('unmeasured_tumour_slices', 0)} tumour slices "
                       "had no lesion large enough to measure. Faint lesions are the ones missed most.")
        if not (flagged := cv_view.flagged_normals_table(cv)).empty:
            st.markdown("**Tumour-free slices called tumour, by patient**")
            st.dataframe(flagged.round(3), hide_index=True, width="stretch")
            st.caption("Out of fold, at the shipped threshold. A few patients hold most false alarms: look "
                       "at their slices in Teaching before trusting a call on a similar one.")
if cv_chosen:
    stats = {m: cv_view.dice_stats(cv) for m, cv in cv_chosen.items()}
    calibration = {m: points for m, cv in cv_chosen.items() if (points := cv_view.calibration_points(cv)) is not None}
    left, right = st.columns(2)
    left.plotly_chart(cv_charts.dice_figure(stats), key="performance_cv_dice")
    if calibration:
        right.plotly_chart(charts.calibration_figure(calibration).update_layout(title="Calibration (cross-validated)"),
                           key="performance_cv_calibration")

st.subheader("Recipes tried and not shipped, against the shipped recipe they change")
comparison = recipe_view.load_comparison()
if comparison is None:
    st.info("No recipe comparison yet: run `python -m liver_model recipe-comparison` after a CV.")
else:
    st.caption("Each ablation's out-of-fold scores against the shipped report of the same architecture "
               "and view, or against the formerly shipped recipe it was measured against (\"compared "
               "with\"): same patients, same folds; difference = recipe - baseline, 95 % interval from "
               f"{comparison.get('resamples', '?')} paired resamples of patients. Add a recipe under "
               "Models above for its full view.")
    if note := recipe_view.noise_note(comparison):
        st.caption(note)
    st.dataframe(recipe_view.recipe_table(comparison).round(3), hide_index=True, width="stretch")
    for line in recipe_view.unpaired(comparison):
        st.caption(f"Not compared: {line}")

st.subheader("Would more patients help? The learning curve")
if not (curves := learning_curve_view.load_curves()):
    st.info("No learning curve yet: run `cv` with `--train-patient-fraction 0.5` and `0.75`, then "
            "`python -m liver_model learning-curve <the reports>`.")
else:
    for i, (column, curve) in enumerate(zip(st.columns(len(curves)), curves)):
        column.plotly_chart(cv_charts.learning_curve_figure(curve), key=f"performance_learning_curve_{i}")
        column.caption(learning_curve_view.curve_caption(curve))

st.header("Fixed test split (5 patients)")
if note := cv_view.fixed_split_note(cards):
    st.caption(note)
if report is None:
    st.info("`assets/metrics/test_metrics.json` has not been produced yet: run "
            "`python -m liver_model evaluate --manifest <dataset>/manifest.csv --out assets/metrics/test_metrics.json`.")
elif not chosen:
    st.info("None of the selected models has test metrics.")
else:
    st.caption(metrics_view.report_summary(report))
    table = metrics_view.scalar_table(chosen)
    st.dataframe(table.round(3), hide_index=True, width="stretch")
    st.download_button("Download these numbers (CSV)", table.to_csv(index=False).encode(),
                       file_name="liverlens_test_metrics.csv", mime="text/csv", key="performance_csv")
    st.plotly_chart(charts.metric_bars_figure(metrics_view.bar_table(chosen)), key="performance_bars")

    patients = metrics_view.per_patient_table(chosen)
    if not patients.empty:
        st.subheader("Per test patient")
        st.caption("The same slices, patient by patient: a ROC AUC under 0.5 means the model ranks "
                   "that patient's tumour slices below its normal ones. Empty AUC: the patient "
                   "has slices of one class only.")
        st.dataframe(patients.round(3), hide_index=True, width="stretch")

    st.subheader("Confusion matrices")
    normalised = st.toggle("Row-normalised (diagonal = specificity, sensitivity)", key="performance_norm")
    cols = st.columns(min(3, len(chosen)))
    for i, (model_id, m) in enumerate(chosen.items()):
        cols[i % len(cols)].plotly_chart(
            charts.confusion_matrix_figure(m["confusion_matrix"], normalize=normalised,
                                           title=f"{model_id} (threshold {m['threshold']:.3f})"),
            key=f"performance_cm_{model_id}")

    left, right = st.columns(2)
    roc, pr = metrics_view.roc_curves(chosen), metrics_view.pr_curves(chosen)
    if roc:
        left.plotly_chart(charts.roc_figure(roc), key="performance_roc")
    if pr:
        right.plotly_chart(charts.pr_figure(pr, prevalence=metrics_view.prevalence(chosen)), key="performance_pr")
    calibration = metrics_view.calibration_curves(chosen)
    if calibration:
        st.plotly_chart(charts.calibration_figure(calibration), key="performance_calibration")

st.header("Training curves")
for model_id in selected:
    frame = metrics_view.history(model_id)
    if frame is None:
        st.caption(f"{model_id}: no training history shipped.")
        continue
    st.plotly_chart(charts.training_curves_figure(frame, title=model_id), key=f"performance_history_{model_id}")

st.header("Explanation quality")
quality = metrics_view.load_json(metrics_view.EXPLANATION_QUALITY)
if quality is None:
    st.info("`assets/metrics/explanation_quality.json` has not been produced yet: run "
            "`python -m liver_model explain-eval --manifest <dataset>/manifest.csv --out assets/metrics/explanation_quality.json`.")
else:
    st.caption(f"{quality.get('n_slices', '?')} tumour slices of {quality.get('dataset', '?')} "
               f"({quality.get('split', '?')} split), preset {quality.get('preset', '?')}. "
               + "; ".join(f"{k}: {v}" for k, v in metrics_view.QUALITY_METRICS.items()))
    qtable = metrics_view.quality_table(quality, selected)
    st.dataframe(qtable.round(3), hide_index=True, width="stretch")
    st.download_button("Download explanation quality (CSV)", qtable.to_csv(index=False).encode(),
                       file_name="liverlens_explanation_quality.csv", mime="text/csv", key="performance_quality_csv")
