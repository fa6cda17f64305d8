"""NumPy ``.npy`` HU arrays: a slice, or a stack in numpy (Z, H, W) or nibabel (H, W, Z) order."""

from __future__ import annotations

import io

import numpy as np

from liver_model.errors import CorruptImage, NotAnAxialCTSlice, UnsupportedFormat
from liver_model.io.limits import check_volume_shape

def npy_volume(data: bytes, label: str) -> np.ndarray:
    """A ``.npy`` HU array: (H, W), (Z, H, W) numpy/SimpleITK order, or (H, W, Z) nibabel order.

    A 3D array is read as (H, W, Z) only when its first two axes are equal and the third is not
    (square slices, as CT has); otherwise as (Z, H, W). The header is checked before the data is
    read, so an object array or a huge shape is refused without loading it.
    """
    stream = io.BytesIO(data)
    try:
        version = np.lib.format.read_magic(stream)
        read_header = (
            np.lib.format.read_array_header_1_0
            if version == (1, 0)
            else np.lib.format.read_array_header_2_0
        )
        shape, _, dtype = read_header(stream)
    except (ValueError, EOFError, SyntaxError) as err:
        raise CorruptImage(
            f"{label} has a damaged NumPy header ({err}). Save the array again with numpy.save."
        ) from err
    if dtype.kind not in "iuf":
        raise UnsupportedFormat(
            f"{label} holds {dtype} values, not HU numbers. Save the HU slice as an integer "
            "or float array with numpy.save(array) and upload that."
        )
    if len(shape) not in (2, 3):
        raise NotAnAxialCTSlice(
            f"{label} has shape {shape}. Upload a 2D HU slice or a 3D stack of slices."
        )
    slices_last = len(shape) == 3 and shape[0] == shape[1] != shape[2]
    check_volume_shape(shape if len(shape) == 2 or slices_last else shape[1:] + shape[:1], label)
    try:
        array = np.load(io.BytesIO(data), allow_pickle=False)
    except (ValueError, EOFError, OSError) as err:
        raise CorruptImage(
            f"{label} is a truncated NumPy file ({err}). Save it again with numpy.save."
        ) from err
    if array.ndim == 2:
        array = array[..., None]
    elif not slices_last:
        array = np.moveaxis(array, 0, -1)
    if float(array.min()) >= 0 and float(array.max()) <= 1:
        raise NotAnAxialCTSlice(
            f"{label} holds values between 0 and 1, which are normalised intensities, not "
            "Hounsfield units. Upload the slice in HU (air about -1000, liver about 60)."
        )
    return array.astype(np.float32, copy=False)
