"""A volume known in HU (NIfTI, ``.npy``) to one encoded :class:`CTSlice` per axial slice."""

from __future__ import annotations

import numpy as np

from liver_model.slices import CTSlice
from liver_model.windowing import encode_three_window

def hu_volume_slices(
    volume: np.ndarray,
    label: str,
    index: int | None,
    spacing: tuple[float, float] | None,
    calibrated: bool = True,
) -> list[CTSlice]:
    """Encode ``volume[:, :, k]`` (as the LiTS export did) for every k, or only ``index``."""
    count = volume.shape[2]
    if index is not None and not 0 <= index < count:
        raise IndexError(f"{label} has {count} slice(s); index {index} is out of range")
    wanted = range(count) if index is None else [index]
    meta = {
        "format": "NIfTI" if spacing is not None else "NumPy HU array",
        "encoding": "LiTS three-window encoding of HU",
    }
    slices = []
    for k in wanted:
        hu = np.ascontiguousarray(volume[:, :, k], dtype=np.float32)
        slices.append(
            CTSlice(
                encode_three_window(hu),
                hu,
                calibrated,
                label,
                k if count > 1 else None,
                spacing,
                dict(meta),
            )
        )
    return slices
