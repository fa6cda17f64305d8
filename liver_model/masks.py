"""Liver and tumour masks from LiTS-style label images (0 background, 1 liver, 2 tumour).

Masks are used to check explanations (does the heatmap fall on the tumour?) and to pick slices,
so they must be aligned pixel for pixel with the slice loaded by :mod:`liver_model.io`; they are
read at the file's own resolution and resized only by :mod:`liver_model.preprocessing`, with the
same crop as the slice.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from liver_model.errors import CorruptImage, UnsupportedFormat

BACKGROUND, LIVER, TUMOUR = 0, 1, 2


@dataclass(eq=False)
class LabelMask:
    """Boolean masks of one slice. ``liver`` includes the tumour pixels (the organ outline),
    as radiologists draw it and as the liver-coverage metrics need it."""

    liver: np.ndarray
    tumour: np.ndarray

    @property
    def shape(self) -> tuple[int, int]:
        """(H, W), equal to the slice's :attr:`CTSlice.shape`."""
        return (int(self.liver.shape[0]), int(self.liver.shape[1]))


def label_mask_from_array(labels: np.ndarray) -> LabelMask:
    """Split a label array (0/1/2) into boolean liver (1 or 2) and tumour (2) masks.

    Values other than 0, 1, 2 mean the file is not a LiTS label map (e.g. a 0/255 binary mask
    or a JPEG-compressed label image) and are rejected rather than guessed.
    """
    labels = np.asarray(labels)
    if labels.ndim != 2:
        raise UnsupportedFormat(
            f"A label mask must be one 2D label image, got shape {labels.shape}."
        )
    unexpected = np.setdiff1d(np.unique(labels), [BACKGROUND, LIVER, TUMOUR])
    if unexpected.size:
        raise UnsupportedFormat(
            f"The label mask holds values {unexpected[:5].tolist()}; expected 0 background, "
            "1 liver, 2 tumour (LiTS labels), saved losslessly as PNG."
        )
    tumour = labels == TUMOUR
    return LabelMask(liver=(labels == LIVER) | tumour, tumour=tumour)


def load_label_mask(path: str | Path) -> LabelMask:
    """Read a single-channel label PNG (as in the shared datasets) into a :class:`LabelMask`."""
    from PIL import Image, UnidentifiedImageError

    path = Path(path)
    try:
        with Image.open(path) as image:
            if image.mode not in ("L", "P", "I", "I;16"):
                raise UnsupportedFormat(
                    f"{path.name} is a {image.mode} image; a label mask is a single-channel "
                    "PNG with values 0, 1, 2."
                )
            labels = np.asarray(image)
    except (UnidentifiedImageError, OSError, SyntaxError) as err:
        raise CorruptImage(f"The label mask {path.name} cannot be read ({err}).") from err
    return label_mask_from_array(labels)
