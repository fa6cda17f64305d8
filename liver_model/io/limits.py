"""Size limits every reader enforces, and the one wording of a size refusal.

Why a module of their own: each format reader checks the same limits before it decodes pixels
(so a decompression bomb or a whole-body archive is refused from its header), and tests scale
them down with ``monkeypatch`` in one place.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from liver_model.errors import ImageTooLarge

# Largest slice side accepted: CT matrices are 512 (sometimes 1024 or 2048); more is not a slice.
MAX_SIDE = 4096
# Most slices taken from one volume or series (whole-body CTs at 0.6 mm have ~2000).
MAX_SLICES = 3000
# Most bytes a gzip (.nii.gz) may expand to, so a gzip bomb cannot exhaust memory.
MAX_GUNZIP_BYTES = 2 * 1024**3
# Most members read from one ZIP upload, and most bytes they may expand to (a zip bomb guard).
MAX_ARCHIVE_MEMBERS = 5000
MAX_ARCHIVE_BYTES = 4 * 1024**3

SUPPORTED = (
    "PNG, JPEG or TIFF images, DICOM (.dcm, a study folder as .zip), NIfTI (.nii / .nii.gz) or "
    "NumPy (.npy) HU arrays"
)


def check_side(size: tuple[int, int], label: str) -> None:
    """Refuse images larger than a CT slice before decoding their pixels."""
    if max(size) > MAX_SIDE:
        raise ImageTooLarge(too_large_message(label, size))


def too_large_message(label: str, size: tuple[int, int] | None = None) -> str:
    """One wording for every size refusal, naming the limit and the usual CT matrix."""
    shown = f" ({size[0]} x {size[1]} pixels)" if size else ""
    return (
        f"{label} is far larger than a CT slice{shown}; LiverLens accepts slices up to {MAX_SIDE} x {MAX_SIDE} "
        "pixels. Upload one axial slice at its original matrix size (usually 512 x 512)."
    )


def check_volume_shape(shape: Sequence[int], label: str) -> None:
    """Refuse oversized volumes from the header, before their voxels are read into memory."""
    if len(shape) >= 2 and max(shape[0], shape[1]) > MAX_SIDE:
        raise ImageTooLarge(too_large_message(label, (int(shape[1]), int(shape[0]))))
    if len(shape) >= 3 and int(np.prod(shape[2:])) > MAX_SLICES:
        raise ImageTooLarge(
            f"{label} has {int(np.prod(shape[2:]))} slices, more than the {MAX_SLICES} "
            "LiverLens reads at once. Upload the slices around the liver only."
        )

