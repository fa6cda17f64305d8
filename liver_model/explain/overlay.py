"""Heatmap-over-slice images as plain RGB arrays, so any UI (or a report) can show them.

Why arrays and not figures: the dashboard shows them with ``st.image`` or plotly, the tests
check pixels, and a PNG export needs nothing else. The slice is shown in one CT window (the liver
window by default, channel R of the canonical encoding), in grey, because the three-window
colour encoding is not how radiologists read CT and would clash with the colour map.
"""
from __future__ import annotations

import cv2
import numpy as np

COLOUR_MAPS: dict[str, int] = {
    "jet": cv2.COLORMAP_JET,
    "inferno": cv2.COLORMAP_INFERNO,
    "viridis": cv2.COLORMAP_VIRIDIS,
    "turbo": cv2.COLORMAP_TURBO,
    "hot": cv2.COLORMAP_HOT,
}
WINDOW_CHANNELS = {"liver": 0, "abdomen": 1, "equalised": 2}
"""Channels of the canonical encoding: R liver window, G W200/L60, B histogram-equalised."""
MASK_COLOUR = (0, 255, 0)
"""Tumour outline colour: pure green, which is not a colour the maps above produce."""


def colourise(heatmap: np.ndarray, colour_map: str = "jet") -> np.ndarray:
    """(H, W) map in [0, 1] -> (H, W, 3) uint8 RGB through a named colour map."""
    if colour_map not in COLOUR_MAPS:
        raise ValueError(f"unknown colour map {colour_map!r}; choose one of {sorted(COLOUR_MAPS)}")
    grey = np.clip(np.nan_to_num(np.asarray(heatmap, np.float32)), 0.0, 1.0)
    bgr = cv2.applyColorMap((grey * 255.0).round().astype(np.uint8), COLOUR_MAPS[colour_map])
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def slice_grey(rgb: np.ndarray, window: str = "liver") -> np.ndarray:
    """One window of a canonical (H, W, 3) slice as a grey (H, W, 3) uint8 image."""
    channel = np.asarray(rgb)[..., WINDOW_CHANNELS[window]]
    return np.repeat(channel[..., None], 3, axis=2).astype(np.uint8)


def overlay_heatmap(rgb: np.ndarray, heatmap: np.ndarray, *, opacity: float = 0.45,
                    colour_map: str = "jet", window: str = "liver",
                    min_value: float = 0.0) -> np.ndarray:
    """Blend a heatmap over a slice: (H, W, 3) uint8.

    The blend weight per pixel is ``opacity * heatmap``, so cold regions show the bare slice
    rather than a blue wash over the whole body; values below ``min_value`` are not drawn at all.
    """
    if heatmap.shape != rgb.shape[:2]:
        raise ValueError(f"heatmap {heatmap.shape} does not match the slice {rgb.shape[:2]}")
    if not 0.0 <= opacity <= 1.0:
        raise ValueError(f"opacity must be within [0, 1], got {opacity}")
    base = slice_grey(rgb, window).astype(np.float32)
    heat = np.clip(np.nan_to_num(np.asarray(heatmap, np.float32)), 0.0, 1.0)
    alpha = opacity * np.where(heat >= min_value, heat, 0.0)[..., None]
    colour = colourise(heat, colour_map).astype(np.float32)
    return np.clip(base * (1.0 - alpha) + colour * alpha, 0, 255).round().astype(np.uint8)


def draw_mask_outline(image: np.ndarray, mask: np.ndarray, *,
                      colour: tuple[int, int, int] = MASK_COLOUR,
                      thickness: int = 2) -> np.ndarray:
    """Copy of ``image`` (H, W, 3) uint8 with the outline of a boolean (H, W) mask drawn on it."""
    if mask.shape != image.shape[:2]:
        raise ValueError(f"mask {mask.shape} does not match the image {image.shape[:2]}")
    out = np.ascontiguousarray(image, dtype=np.uint8).copy()
    contours, _ = cv2.findContours(np.asarray(mask, np.uint8), cv2.RETR_EXTERNAL,
                                   cv2.CHAIN_APPROX_NONE)
    cv2.drawContours(out, contours, -1, colour, thickness)
    return out


MODEL_TUMOUR_COLOUR = (255, 0, 255)
"""A model's own tumour outline: magenta, so it is never mistaken for the green reference mask."""
MODEL_LIVER_COLOUR = (255, 200, 0)
"""A model's own liver outline: amber, distinct from the blue reference liver outline."""


def draw_segmentation_outline(image: np.ndarray, tumour: np.ndarray, liver: np.ndarray | None = None,
                              *, thickness: int = 2) -> np.ndarray:
    """Copy of ``image`` with a model's predicted liver (amber) and tumour (magenta) contours.

    Why a separate palette from :func:`draw_mask_outline`'s defaults: Teaching shows the model's
    outline next to the reference mask, and a reader must tell prediction from truth at a glance.
    The liver is drawn first so the tumour contour stays on top where they touch.
    """
    out = image
    if liver is not None:
        out = draw_mask_outline(out, liver, colour=MODEL_LIVER_COLOUR, thickness=thickness)
    return draw_mask_outline(out, tumour, colour=MODEL_TUMOUR_COLOUR, thickness=thickness)
