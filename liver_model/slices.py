"""The one in-memory representation of a CT slice that every part of LiverLens passes around."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(eq=False)
class CTSlice:
    """One axial CT slice, already in the canonical encoding the models were trained on.

    ``rgb`` is what the models see, whatever the file format was: the LiTS three-window
    encoding (see :mod:`liver_model.windowing`) for slices known in HU, or the image as it was
    for 8-bit files. ``hu`` is kept when known so the dashboard can show other windows and HU
    values; ``hu_calibrated`` says whether those HU come from calibration data in the file
    (DICOM rescale, NIfTI, ``.npy``) or from an assumption (16-bit images taken as HU + 1024).
    """

    rgb: np.ndarray
    hu: np.ndarray | None
    hu_calibrated: bool
    source: str
    index: int | None = None
    spacing_mm: tuple[float, float] | None = None
    meta: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        """Reject arrays that would silently break later steps (wrong dtype or layout)."""
        if self.rgb.dtype != np.uint8 or self.rgb.ndim != 3 or self.rgb.shape[2] != 3:
            raise ValueError(
                f"CTSlice.rgb must be uint8 (H, W, 3), got {self.rgb.dtype} {self.rgb.shape}"
            )
        if self.hu is not None and self.hu.shape != self.rgb.shape[:2]:
            raise ValueError(
                f"CTSlice.hu shape {self.hu.shape} differs from rgb {self.rgb.shape[:2]}"
            )

    @property
    def shape(self) -> tuple[int, int]:
        """(H, W) of the slice in pixels; masks and heatmaps are aligned to this."""
        return (int(self.rgb.shape[0]), int(self.rgb.shape[1]))
