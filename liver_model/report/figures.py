"""Pictures of a report as RGB arrays / PNG bytes: the windowed slice, overlays, the z chart, the grid.

Why arrays: the PDF builder, the dashboard's download buttons and the tests all take the same
pixels; only the z chart and the labelled grid need a plotting library (matplotlib, headless Agg
backend, already a dependency of lime).
"""
from __future__ import annotations

import io
from collections.abc import Mapping, Sequence

import numpy as np
from PIL import Image

from liver_model.explain.overlay import WINDOW_CHANNELS, slice_grey
from liver_model.slices import CTSlice
from liver_model.windowing import PRESETS, apply_window

CHANNEL_NAMES = {
    "liver": "R channel of the three-window encoding (liver window W150/L30 as exported)",
    "abdomen": "G channel of the three-window encoding (W200/L60 as exported)",
    "equalised": "B channel of the three-window encoding (histogram-equalised)",
}


def display_image(ct: CTSlice, window: str = "liver") -> tuple[np.ndarray, str]:
    """The slice in ``window`` as grey (H, W, 3) uint8, and the window in words.

    ``window`` names an HU preset (``liver``, ``abdomen``, ``soft_tissue``, ``lits_green``) for
    HU-calibrated slices, or a channel of the encoding (``liver``, ``abdomen``, ``equalised``).
    A slice without calibrated HU falls back to the encoding's channel, and the description says
    so: an 8-bit export has no HU to window.
    """
    if ct.hu is not None and ct.hu_calibrated and window in PRESETS:
        preset = PRESETS[window]
        grey = apply_window(ct.hu, preset)
        text = f"{preset.name} window W{preset.width:g}/L{preset.level:g} HU"
        return np.repeat(grey[..., None], 3, axis=2), text
    channel = window if window in WINDOW_CHANNELS else "liver"
    note = "" if channel == window else f" (window '{window}' needs HU; this image has none)"
    return slice_grey(ct.rgb, channel), CHANNEL_NAMES[channel] + note


def png_bytes(rgb: np.ndarray) -> bytes:
    """Lossless PNG of an (H, W, 3) uint8 image."""
    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(rgb, np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()


def _figure_to_rgb(figure: object) -> np.ndarray:
    """Render a matplotlib figure to an RGB array and close it."""
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110)
    plt.close(figure)
    return np.asarray(Image.open(io.BytesIO(buffer.getvalue())).convert("RGB"))


def probability_chart(probabilities: Mapping[str, Sequence[float]], thresholds: Mapping[str, float],
                      marked: Sequence[int] = ()) -> np.ndarray:
    """p(tumour) per model along the series, numbered from 1 as in the report's text.

    Thresholds are dotted; ``marked`` (0-based positions) are shaded.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(7.5, 3.2))
    for i, (model_id, values) in enumerate(probabilities.items()):
        colour = f"C{i % 10}"
        axis.plot(np.arange(1, len(values) + 1), values, marker=".", color=colour, label=model_id, lw=1.2)
        if model_id in thresholds:
            axis.axhline(thresholds[model_id], color=colour, ls=":", lw=0.8)
    for position in marked:
        axis.axvspan(position + 0.6, position + 1.4, color="0.85", zorder=0)
    axis.xaxis.get_major_locator().set_params(integer=True)
    axis.set_xlabel("slice number in the series (1 = first along z; shaded: top slices)")
    axis.set_ylabel("p(tumour)")
    axis.set_ylim(0, 1)
    axis.legend(fontsize=6, ncol=2, loc="upper left")
    figure.tight_layout()
    return _figure_to_rgb(figure)


def explanation_grid(images: Mapping[tuple[str, str], np.ndarray], model_ids: Sequence[str],
                     method_labels: Mapping[str, str], title: str = "") -> np.ndarray:
    """Models (rows) x methods (columns) of overlay images as one labelled RGB figure.

    Cells without an image (the method cannot explain that model) say "not available".
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    methods = list(method_labels)
    rows, cols = max(len(model_ids), 1), max(len(methods), 1)
    figure, axes = plt.subplots(rows, cols, figsize=(2.6 * cols + 0.4, 2.6 * rows + 0.5), squeeze=False)
    for r, model_id in enumerate(model_ids):
        for c, method in enumerate(methods):
            axis = axes[r][c]
            axis.set_xticks([])
            axis.set_yticks([])
            image = images.get((model_id, method))
            if image is not None:
                axis.imshow(image)
            else:
                axis.text(0.5, 0.5, "not available", ha="center", va="center", fontsize=7)
            if r == 0:
                axis.set_title(method_labels[method], fontsize=9)
            if c == 0:
                axis.set_ylabel(model_id, fontsize=7)
    if title:
        figure.suptitle(title, fontsize=9)
    figure.tight_layout()
    return _figure_to_rgb(figure)
