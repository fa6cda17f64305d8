"""Pure plotly builders for the cross-validation view (per-patient AUC, Dice).

Like ``dashboard.charts``: plain numbers in, a ``go.Figure`` out, no files, models or Streamlit,
so ``tests/test_cv_charts.py`` checks them without a UI.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import plotly.graph_objects as go

#: Bars of patients the model ranks backwards (AUC below chance).
BELOW_CHANCE = "#d62728"
ABOVE_CHANCE = "#1f77b4"
#: How far past the largest measured training set the learning curve's trend is drawn.
TREND_DOUBLINGS = 3


def per_patient_auc_figure(per_patient: Mapping[str, Mapping[str, Any]], *, title: str = "") -> go.Figure:
    """Each patient's out-of-fold ROC AUC, sorted, with the chance line at 0.5.

    Why per patient: a pooled AUC mixes patients, and one patient scored backwards (red bar) is
    exactly what a clinician must know about. Patients with one class only have no AUC and are
    named in the subtitle instead of drawn as a misleading zero.
    """
    scored = sorted(((pid, r) for pid, r in per_patient.items() if r.get("roc_auc") is not None),
                    key=lambda item: item[1]["roc_auc"])
    skipped = sorted(pid for pid, r in per_patient.items() if r.get("roc_auc") is None)
    auc = [r["roc_auc"] for _, r in scored]
    fig = go.Figure(go.Bar(
        x=[pid for pid, _ in scored], y=auc,
        marker_color=[BELOW_CHANCE if a < 0.5 else ABOVE_CHANCE for a in auc],
        customdata=[[r.get("n"), r.get("n_tumour")] for _, r in scored],
        hovertemplate="%{x}: AUC %{y:.3f}<br>%{customdata[0]} slices, %{customdata[1]} with tumour<extra></extra>"))
    fig.add_hline(y=0.5, line_dash="dot", line_color="grey", annotation_text="chance")
    subtitle = f"<br><sup>no AUC (one class only): {', '.join(skipped)}</sup>" if skipped else ""
    fig.update_layout(title=(title or "ROC AUC per patient (out of fold)") + subtitle,
                      yaxis=dict(range=[0, 1], title="ROC AUC"), xaxis_title="patient", height=380,
                      margin=dict(l=10, r=10, t=70, b=10), showlegend=False)
    return fig


def dice_figure(stats: Mapping[str, Mapping[str, Mapping[str, float]]]) -> go.Figure:
    """Median Dice on tumour slices, liver and tumour, per model, with the quartiles as error bars.

    ``stats[model][organ]`` holds ``median``, ``q25``, ``q75`` (the CV report's segmentation block).
    """
    fig = go.Figure()
    for organ in ("liver", "tumour"):
        models = [m for m in stats if organ in stats[m]]
        medians = [stats[m][organ]["median"] for m in models]
        fig.add_trace(go.Bar(
            name=organ, x=models, y=medians,
            error_y=dict(type="data", symmetric=False,
                         array=[stats[m][organ]["q75"] - med for m, med in zip(models, medians)],
                         arrayminus=[med - stats[m][organ]["q25"] for m, med in zip(models, medians)])))
    fig.update_layout(title="Dice on tumour slices (median, quartiles; out of fold)", barmode="group",
                      yaxis=dict(range=[0, 1], title="Dice"), height=360, margin=dict(l=10, r=10, t=50, b=10))
    return fig


def learning_curve_figure(curve: Mapping[str, Any]) -> go.Figure:
    """Cross-validated ROC AUC against training patients per fold (log axis), with intervals.

    Why a log axis and a dashed trend: a doubling of the data is the natural step of a learning
    curve, and the last doubling's gain carried on towards the target shows how far away it is.
    The trend is drawn only past the last measured point, dashed, because it is an extrapolation.
    """
    points = curve["points"]
    n = [p["training_patients_per_fold"] for p in points]
    auc = [p["roc_auc"] for p in points]
    fig = go.Figure(go.Scatter(
        x=n, y=auc, mode="markers+lines", name="measured (out of fold)", marker_size=10,
        error_y=dict(type="data", symmetric=False, array=[p["ci95_high"] - p["roc_auc"] for p in points],
                     arrayminus=[p["roc_auc"] - p["ci95_low"] for p in points]),
        customdata=[[p["train_patient_fraction"], p["difference_to_all"], p["difference_ci95_low"],
                     p["difference_ci95_high"]] for p in points],
        hovertemplate=("%{x:.1f} training patients per fold (%{customdata[0]:.0%} of them): ROC AUC %{y:.3f}"
                       "<br>vs all: %{customdata[1]:+.3f} [%{customdata[2]:+.3f}, %{customdata[3]:+.3f}]"
                       "<extra></extra>")))
    trend = curve["trend"]["last_doubling"]
    target, need = curve["target_roc_auc"], trend["patients_for_target"]["value"]
    if need is not None and need > n[-1]:
        # At most TREND_DOUBLINGS past the data: a flat trend would otherwise stretch the axis to
        # thousands of patients and squash the measured points into its corner.
        end = min(need, n[-1] * 2 ** TREND_DOUBLINGS)
        gain = trend["gain_per_doubling"]["value"]
        fig.add_trace(go.Scatter(x=[n[-1], end], y=[auc[-1], auc[-1] + gain * np.log2(end / n[-1])],
                                 mode="lines", name="last doubling's gain, extended", line=dict(dash="dash", color="grey"),
                                 hovertemplate="%{x:.0f} patients: %{y:.3f} if the trend held<extra></extra>"))
    fig.add_hline(y=target, line_dash="dot", line_color=BELOW_CHANCE, annotation_text=f"target {target:g}")
    fig.update_layout(title=f"{curve['architecture']} ({curve['view']} view): ROC AUC by training patients",
                      xaxis=dict(type="log", title="training patients per fold (log scale)",
                                 tickvals=[5, 10, 20, 50, 100, 200, 500, 1000]),
                      yaxis=dict(title="ROC AUC (out of fold, 95 % CI)"), height=380,
                      margin=dict(l=10, r=10, t=50, b=10), legend=dict(orientation="h", y=-0.25))
    return fig
