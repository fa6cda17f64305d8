"""NIfTI volumes (nibabel): every ``volume[:, :, k]`` is an axial slice in HU, as in the LiTS export."""

from __future__ import annotations

import io

import numpy as np

from liver_model.errors import CorruptImage, InputError, NotAnAxialCTSlice
from liver_model.io.limits import check_volume_shape
from liver_model.io.sniff import nifti_version

def nifti_volume(data: bytes, label: str) -> np.ndarray:
    """A NIfTI volume as an array whose last axis is the slice axis, in HU (scl_slope applied)."""
    import nibabel as nib

    try:
        image = (nib.Nifti1Image if nifti_version(data) == 1 else nib.Nifti2Image).from_bytes(data)
        shape = image.shape
        check_volume_shape(shape, label)
        volume = np.asarray(image.get_fdata(dtype=np.float32))
    except InputError:
        raise
    except Exception as err:  # nibabel raises HeaderDataError, ValueError, EOFError... on damage
        raise CorruptImage(
            f"{label} is a damaged or truncated NIfTI volume ({err}). Export it again."
        ) from err
    while volume.ndim > 3 and volume.shape[-1] == 1:
        volume = volume[..., 0]
    if volume.ndim == 2:
        volume = volume[..., None]
    if volume.ndim != 3:
        raise NotAnAxialCTSlice(
            f"{label} is a {volume.ndim}D NIfTI (for example a time series). Upload a 3D CT "
            "volume or a single 2D slice."
        )
    return volume


def nifti_spacing(data: bytes) -> tuple[float, float] | None:
    """In-plane voxel size (mm) from the header zooms, for distance and area read-outs."""
    import nibabel as nib

    header = (nib.Nifti1Header if nifti_version(data) == 1 else nib.Nifti2Header).from_fileobj(
        io.BytesIO(data)
    )
    zooms = header.get_zooms()
    return (float(zooms[0]), float(zooms[1])) if len(zooms) >= 2 else None
