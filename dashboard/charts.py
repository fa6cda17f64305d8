"""Pure plotly figure builders for the LiverLens dashboard.

Every function here takes plain numbers or arrays and returns a ``plotly.graph_objects.Figure``;
none reads files, calls a model or touches Streamlit. That keeps the pages thin (they only call
and lay out) and lets ``tests/test_charts.py`` check every chart without a UI, in the spirit of
explainerdashboard's ``explainer_plots.py``.

Images are drawn as plotly image traces (not ``st.image``) because plotly gives zoom and pan for
free, which radiologists expect when inspecting a slice or a heatmap.
"""
from __future__ import annotations

import base64
import io
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
import plotly.express as px
import plotly.graph_objects as go
from plotly.subplots import make_subplots
from PIL import Image

#: Colour scale of every heatmap: perceptually ordered, readable by colour-blind users
#: (unlike "jet", which invents boundaries that are not in the data).
HEATMAP_COLORSCALE = "Inferno"

#: zlib level of the PNGs that carry slices and overlays to the browser: lossless at every level;
#: 1 encodes 2-4x faster than 6 for files a few percent larger.
PNG_COMPRESS_LEVEL = 1

#: Order of the bars in the metric chart: the clinically central pair first.
METRIC_ORDER = ("accuracy", "sensitivity", "specificity", "precision", "f1")


def _as_cm(cm: Sequence[Sequence[float]] | np.ndarray) -> np.ndarray:
    """Validate a square confusion matrix (rows = true class, columns = predicted class)."""
    arr = np.asarray(cm, dtype=float)
    if arr.ndim != 2 or arr.shape[0] != arr.shape[1]:
        raise ValueError(f"a confusion matrix must be square, got shape {arr.shape}")
    return arr


def normalise_confusion_matrix(cm: Sequence[Sequence[float]] | np.ndarray) -> np.ndarray:
    """Divide each row by its total, so the diagonal reads as per-class recall.

    Rows with no slices (a class absent from the test set) stay 0 instead of becoming NaN, so the
    chart still draws.
    """
    arr = _as_cm(cm)
    totals = arr.sum(axis=1, keepdims=True)
    return np.divide(arr, totals, out=np.zeros_like(arr), where=totals > 0)


def confusion_matrix_figure(
    cm: Sequence[Sequence[float]] | np.ndarray,
    labels: Sequence[str] = ("normal", "tumour"),
    *,
    normalize: bool = False,
    title: str = "",
) -> go.Figure:
    """Confusion matrix as an annotated heatmap (rows = truth, columns = prediction).

    ``normalize=True`` shows row fractions (sensitivity and specificity on the diagonal); the raw
    counts stay visible in the hover text so a reader can see how many slices a fraction rests on.
    """
    counts = _as_cm(cm)
    if len(labels) != counts.shape[0]:
        raise ValueError(f"{len(labels)} labels for a {counts.shape[0]}-class matrix")
    values = normalise_confusion_matrix(counts) if normalize else counts
    text = [[f"{v:.2f}" if normalize else f"{int(v)}" for v in row] for row in values]
    hover = [
        [f"true {labels[i]}, predicted {labels[j]}: {int(counts[i, j])} slices" for j in range(len(labels))]
        for i in range(len(labels))
    ]
    fig = go.Figure(
        go.Heatmap(
            z=values,
            x=[f"pred. {lab}" for lab in labels],
            y=[f"true {lab}" for lab in labels],
            text=text,
            texttemplate="%{text}",
            hovertext=hover,
            hoverinfo="text",
            colorscale="Blues",
            zmin=0,
            zmax=1 if normalize else max(float(counts.max()), 1.0),
            showscale=False,
        )
    )
    fig.update_yaxes(autorange="reversed")
    fig.update_layout(title=title or ("Confusion matrix (row-normalised)" if normalize else "Confusion matrix (counts)"),
                      height=320, margin=dict(l=10, r=10, t=50, b=10))
    return fig


def metric_bars_figure(table: pd.DataFrame, *, title: str = "Test-patient metrics") -> go.Figure:
    """Grouped bars of threshold metrics, one colour per model.

    ``table`` is long-form with columns ``model``, ``metric`` and ``value`` (fractions in 0..1).
    """
    missing = {"model", "metric", "value"} - set(table.columns)
    if missing:
        raise ValueError(f"metric table lacks columns {sorted(missing)}")
    order = [m for m in METRIC_ORDER if m in set(table["metric"])]
    order += sorted(set(table["metric"]) - set(order))
    fig = px.bar(
        table,
        x="metric",
        y="value",
        color="model",
        barmode="group",
        category_orders={"metric": order},
        range_y=[0, 1.05],
        text_auto=".2f",
    )
    fig.update_layout(title=title, height=380, margin=dict(l=10, r=10, t=50, b=10), legend_title_text="model")
    return fig


def roc_figure(curves: Mapping[str, tuple[np.ndarray, np.ndarray, float]]) -> go.Figure:
    """All models' ROC curves on one plot. ``curves[model] = (fpr, tpr, roc_auc)``."""
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=[0, 1], y=[0, 1], mode="lines", name="chance",
                             line=dict(dash="dot", color="grey")))
    for model, (fpr, tpr, auc) in curves.items():
        fig.add_trace(go.Scatter(x=np.asarray(fpr), y=np.asarray(tpr), mode="lines",
                                 name=f"{model} (AUC {auc:.3f})"))
    fig.update_layout(title="ROC curve (test patients)", xaxis_title="1 - specificity (false-positive rate)",
                      yaxis_title="sensitivity (true-positive rate)", height=420,
                      xaxis=dict(range=[0, 1]), yaxis=dict(range=[0, 1.02]),
                      margin=dict(l=10, r=10, t=50, b=10))
    return fig


def pr_figure(
    curves: Mapping[str, tuple[np.ndarray, np.ndarray, float]], *, prevalence: float | None = None
) -> go.Figure:
    """All models' precision-recall curves on one plot. ``curves[model] = (recall, precision, pr_auc)``.

    ``prevalence`` (share of tumour slices) is drawn as the no-skill line: a PR curve is only
    meaningful against it, unlike ROC's fixed diagonal.
    """
    fig = go.Figure()
    if prevalence is not None:
        fig.add_trace(go.Scatter(x=[0, 1], y=[prevalence, prevalence], mode="lines",
                                 name=f"no skill ({prevalence:.2f})", line=dict(dash="dot", color="grey")))
    for model, (recall, precision, ap) in curves.items():
        fig.add_trace(go.Scatter(x=np.asarray(recall), y=np.asarray(precision), mode="lines",
                                 name=f"{model} (AP {ap:.3f})"))
    fig.update_layout(title="Precision-recall curve (test patients)", xaxis_title="recall (sensitivity)",
                      yaxis_title="precision", height=420, xaxis=dict(range=[0, 1]),
                      yaxis=dict(range=[0, 1.02]), margin=dict(l=10, r=10, t=50, b=10))
    return fig


def calibration_figure(curves: Mapping[str, tuple[np.ndarray, np.ndarray]]) -> go.Figure:
    """Reliability diagram. ``curves[model] = (mean predicted p, observed tumour fraction)`` per bin."""
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=[0, 1], y=[0, 1], mode="lines", name="perfectly calibrated",
                             line=dict(dash="dot", color="grey")))
    for model, (mean_pred, frac_pos) in curves.items():
        fig.add_trace(go.Scatter(x=np.asarray(mean_pred), y=np.asarray(frac_pos), mode="lines+markers",
                                 name=model))
    fig.update_layout(title="Calibration (test patients)", xaxis_title="mean predicted p(tumour)",
                      yaxis_title="observed fraction of tumour slices", height=420,
                      xaxis=dict(range=[0, 1]), yaxis=dict(range=[0, 1.02]),
                      margin=dict(l=10, r=10, t=50, b=10))
    return fig


#: history.csv column pairs drawn side by side: (panel title, train column, validation column).
_HISTORY_PANELS = (("loss", "loss", "val_loss"), ("accuracy", "accuracy", "val_accuracy"), ("AUC", "auc", "val_auc"))


def training_curves_figure(history: pd.DataFrame, *, title: str = "") -> go.Figure:
    """Loss, accuracy and AUC per epoch (training solid, validation dashed), one panel each.

    Panels whose columns are absent from ``history`` are left empty instead of failing, because a
    model trained with an older history format should still show what it has.
    """
    epochs = history["epoch"] if "epoch" in history.columns else pd.Series(range(1, len(history) + 1))
    fig = make_subplots(rows=1, cols=len(_HISTORY_PANELS), subplot_titles=[p[0] for p in _HISTORY_PANELS])
    for col, (_, train_col, val_col) in enumerate(_HISTORY_PANELS, start=1):
        for name, dash in ((train_col, "solid"), (val_col, "dash")):
            if name in history.columns:
                fig.add_trace(go.Scatter(x=epochs, y=history[name], mode="lines+markers", name=name,
                                         line=dict(dash=dash), legendgroup=name), row=1, col=col)
        fig.update_xaxes(title_text="epoch", row=1, col=col)
    fig.update_layout(title=title or "Training curves", height=320, margin=dict(l=10, r=10, t=60, b=10))
    return fig


def probability_along_z_figure(
    probabilities: pd.DataFrame,
    *,
    thresholds: Mapping[str, float] | None = None,
    selected: int | None = None,
) -> go.Figure:
    """p(tumour) per slice along z, one line per model.

    ``probabilities`` has one row per slice (index = slice position in the volume) and one column
    per model. Each model's decision threshold is drawn as a dotted line in the same colour so a
    reader sees where each model flips to "tumour"; ``selected`` marks the slice under review.
    """
    fig = go.Figure()
    palette = px.colors.qualitative.Plotly
    for i, model in enumerate(probabilities.columns):
        colour = palette[i % len(palette)]
        fig.add_trace(go.Scatter(x=probabilities.index, y=probabilities[model], mode="lines+markers",
                                 name=str(model), line=dict(color=colour)))
        if thresholds and model in thresholds:
            fig.add_hline(y=thresholds[model], line=dict(dash="dot", color=colour, width=1))
    if selected is not None:
        fig.add_vline(x=selected, line=dict(color="black", width=2))
    fig.update_layout(title="p(tumour) along the volume", xaxis_title="slice (z)", yaxis_title="p(tumour)",
                      yaxis=dict(range=[0, 1.02]), height=400, clickmode="event+select",
                      margin=dict(l=10, r=10, t=50, b=10))
    return fig


def image_figure(image: np.ndarray, *, title: str = "", height: int = 420) -> go.Figure:
    """A slice or overlay (uint8 (H, W) or (H, W, 3)) as a zoomable, pannable plotly image.

    The pixels travel as one PNG data URI instead of a JSON list of numbers (a 512x512 slice is
    ~100-500 KB instead of several MB, which keeps the browser responsive). The PNG is written by
    Pillow at zlib level 1: still lossless, and 2-4x cheaper than ``px.imshow(binary_string=True)``
    (measured ~20 vs ~48 ms per 512x512 RGB figure); a Diagnose upload draws about five of these
    on the server's shared CPU, so this is a large part of what one upload costs.
    """
    arr = np.asarray(image)
    if arr.ndim not in (2, 3) or (arr.ndim == 3 and arr.shape[2] not in (3, 4)):
        raise ValueError(f"expected an (H, W) or (H, W, 3) image, got shape {arr.shape}")
    if arr.dtype != np.uint8:
        raise ValueError(f"expected uint8 pixels, got {arr.dtype}")
    buffer = io.BytesIO()
    Image.fromarray(arr).save(buffer, format="PNG", compress_level=PNG_COMPRESS_LEVEL)
    source = "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")
    fig = go.Figure(go.Image(source=source, hovertemplate="x: %{x}<br>y: %{y}<extra></extra>"))
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    fig.update_layout(title=title, height=height, margin=dict(l=0, r=0, t=30 if title else 0, b=0), dragmode="pan")
    return fig


def heatmap_figure(heatmap: np.ndarray, *, title: str = "", height: int = 260, max_side: int = 128) -> go.Figure:
    """A bare explanation heatmap in [0, 1] with a colour bar, for the models x methods grid.

    The map is subsampled to at most ``max_side`` pixels a side: the grid shows up to 30 maps and
    a heatmap is smooth (CAMs come from a 4x4..16x16 grid), so full resolution only costs bandwidth.
    """
    arr = np.asarray(heatmap, dtype=float)
    if arr.ndim != 2:
        raise ValueError(f"expected an (H, W) heatmap, got shape {arr.shape}")
    step = max(1, int(np.ceil(max(arr.shape) / max_side)))
    small = arr[::step, ::step]
    fig = go.Figure(go.Heatmap(z=small, colorscale=HEATMAP_COLORSCALE, zmin=0, zmax=1,
                               colorbar=dict(thickness=8, len=0.8)))
    fig.update_yaxes(autorange="reversed", visible=False, scaleanchor="x")
    fig.update_xaxes(visible=False)
    fig.update_layout(title=dict(text=title, font=dict(size=12)), height=height,
                      margin=dict(l=0, r=0, t=30 if title else 0, b=0))
    return fig
