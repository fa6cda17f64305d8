"""Pure plotly builders for the cross-validation view (per-patient AUC, Dice).

Like ``dashboard.charts``: plain numbers in, a ``go.Figure`` out, no files, models or Streamlit,
so ``tests/test_cv_charts.py`` checks them without a UI.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import plotly.graph_objects as go

#: Bars of patients the model ranks backwards (AUC below chance).
BELOW_CHANCE = "#d62728"
ABOVE_CHANCE = "#1f77b4"


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
