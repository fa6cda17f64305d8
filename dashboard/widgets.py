"""Parameter widgets: each draws its controls and returns plain values or a dataclass.

Pages never read widget keys themselves; they call a function here and get back what the user
chose, the pattern of streamlit's demo apps (widget function -> compute function -> render).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import streamlit as st

from liver_model.explain.base import METHODS, MethodSpec
from liver_model.explain.overlay import COLOUR_MAPS, slice_grey
from liver_model.slices import CTSlice
from liver_model.windowing import ABDOMEN, LIVER, SOFT_TISSUE, Window, apply_window

AS_ENCODED = "As encoded (3 windows, what the models see)"
"""Display choice that shows the canonical RGB encoding unchanged."""

#: HU display windows offered for DICOM / NIfTI / .npy slices (issue 5: liver, abdomen, soft tissue).
DISPLAY_WINDOWS: dict[str, Window] = {
    f"Liver W{LIVER.width:g}/L{LIVER.level:g}": LIVER,
    f"Abdomen {ABDOMEN.lower:g}..{ABDOMEN.upper:g} HU": ABDOMEN,
    f"Soft tissue W{SOFT_TISSUE.width:g}/L{SOFT_TISSUE.level:g}": SOFT_TISSUE,
}

#: Display choices for images that are not HU-calibrated: one channel of the encoding, in grey
#: (values are ``liver_model.explain.overlay.WINDOW_CHANNELS`` names).
ENCODED_CHANNELS: dict[str, str] = {
    "Liver window (R channel)": "liver",
    "W200/L60 (G channel)": "abdomen",
    "Equalised (B channel)": "equalised",
}

#: Methods switched on by default on Diagnose: fast enough for every model in under a second.
DEFAULT_METHODS = ("gradcam",)

#: A method whose fast preset costs more than this many Grad-CAMs gets a "slow" warning.
SLOW_COST = 10.0


def window_selector(ct: CTSlice, *, key: str) -> np.ndarray:
    """Window choice for display; returns the uint8 image to show (grey (H, W) or RGB).

    Only slices known in HU get HU window presets. A PNG/JPEG carries grey levels, so it gets a
    visible "not HU-calibrated" note and can only be shown as its encoded channels: for the LiTS
    three-window encoding the R channel *is* a liver window, which reads like CT, whereas the
    three channels together look false-coloured. The models always see the canonical encoding,
    whatever is chosen here.
    """
    if ct.hu is None or not ct.hu_calibrated:
        st.warning("**Not HU-calibrated.** This image (PNG/JPEG/TIFF) carries grey levels, not "
                   "Hounsfield units, so HU window presets are unavailable; it is classified as it "
                   "was windowed when exported.", icon=":material/warning:")
        choice = st.radio("Display", [*ENCODED_CHANNELS, AS_ENCODED], key=key, horizontal=True)
        return ct.rgb if choice == AS_ENCODED else slice_grey(ct.rgb, ENCODED_CHANNELS[choice])
    choice = st.radio("Window", [*DISPLAY_WINDOWS, AS_ENCODED], key=key, horizontal=True)
    if choice == AS_ENCODED:
        return ct.rgb
    return apply_window(ct.hu, DISPLAY_WINDOWS[choice])


def method_available(spec: MethodSpec, is_transformer: bool, has_cam_layer: bool) -> str | None:
    """Why ``spec`` cannot explain a model (None when it can), from the method's metadata."""
    if is_transformer and not spec.works_for_vit:
        return f"{spec.label} does not apply to a Vision Transformer."
    if spec.needs_conv_layer and not has_cam_layer:
        return f"{spec.label} needs a spatial (convolution or token-grid) layer."
    return None


@dataclass(frozen=True)
class ExplainSettings:
    """What the explanation panel should compute and how to draw it."""

    methods: tuple[str, ...]
    params: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Per method: its preset's parameters with the user's overrides, including ``preset``."""
    opacity: float = 0.45
    target: str = "tumour"
    colour_map: str = "jet"


def _param_inputs(spec: MethodSpec, preset: str, key: str) -> dict[str, Any]:
    """Number inputs for the numeric parameters of a preset (keyed by preset so switching resets)."""
    overrides: dict[str, Any] = {}
    for name, default in spec.presets[preset].items():
        widget_key = f"{key}_{spec.name}_{preset}_{name}"
        if isinstance(default, bool) or not isinstance(default, (int, float)):
            st.caption(f"{name}: `{default}`")
        elif isinstance(default, int):
            overrides[name] = int(st.number_input(name, min_value=0, value=default, step=max(1, default // 10 or 1),
                                                  key=widget_key))
        else:
            overrides[name] = float(st.number_input(name, min_value=0.0, value=float(default), step=0.05,
                                                    key=widget_key))
    return overrides


def explain_settings(*, key: str, unavailable: dict[str, str], n_models: int,
                     default_methods: tuple[str, ...] = DEFAULT_METHODS) -> ExplainSettings:
    """Toggles for every method in ``METHODS`` plus presets, key parameters, target and opacity.

    ``unavailable[method]`` is a reason to grey a toggle out (no selected model supports it).
    Slow methods are marked with their cost for ``n_models`` models, from the metadata, so a user
    knows before clicking that LIME on six models takes minutes on a 2-core CPU.
    """
    chosen: list[str] = []
    params: dict[str, dict[str, Any]] = {}
    cols = st.columns(min(len(METHODS), 4))
    for i, spec in enumerate(METHODS.values()):
        col = cols[i % len(cols)]
        reason = unavailable.get(spec.name)
        help_text = spec.description + (f"\n\nUnavailable: {reason}" if reason else "")
        on = col.toggle(spec.label, key=f"{key}_on_{spec.name}", value=spec.name in default_methods and not reason,
                        disabled=reason is not None, help=help_text)
        if spec.relative_cost >= SLOW_COST:
            col.caption(f"slow: ~{spec.relative_cost:g}x Grad-CAM per model")
        if not on or reason:
            continue
        chosen.append(spec.name)
    for name in chosen:
        spec = METHODS[name]
        presets = list(spec.presets)
        has_knobs = len(presets) > 1 and any(spec.presets[p] for p in presets)
        if not has_knobs:
            params[name] = spec.params_for(None, {})
            continue
        with st.expander(f"{spec.label} parameters", expanded=False):
            preset = st.radio("Preset", presets, key=f"{key}_preset_{name}", horizontal=True)
            params[name] = spec.params_for(preset, _param_inputs(spec, preset, key))
        if spec.relative_cost >= SLOW_COST and n_models > 1:
            st.warning(f"{spec.label} runs the model hundreds of times per explanation; with "
                       f"{n_models} models expect a wait (a progress bar shows it; results are cached).")
    c1, c2, c3 = st.columns([2, 3, 2])
    target = c1.radio("Explain the evidence for", ["tumour", "normal"], key=f"{key}_target", horizontal=True)
    opacity = c2.slider("Heatmap opacity", 0.0, 1.0, 0.45, 0.05, key=f"{key}_opacity")
    colour_map = c3.selectbox("Colour map", list(COLOUR_MAPS), key=f"{key}_cmap",
                              help="jet is the CAM literature's habit; inferno and viridis are "
                                   "perceptually uniform and colour-blind safe.")
    return ExplainSettings(methods=tuple(chosen), params=params, opacity=float(opacity), target=str(target),
                           colour_map=str(colour_map))
