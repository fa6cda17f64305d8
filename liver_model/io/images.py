"""PNG, JPEG and TIFF slices (Pillow): 8-bit exports taken as windowed, 16-bit grey as HU.

Conventions (why each exists):

* 8-bit images are taken as already windowed: RGB is accepted only if it is grey or the LiTS
  three-window encoding (anything else, e.g. a photograph, is rejected); grey is replicated to
  three channels.
* 16-bit grey PNG/TIFF: CT exporters write HU + 1024 as unsigned 16 bit (so air, -1024 HU, is 0),
  so unsigned values up to :data:`HU_OFFSET_MAX` are taken as HU + 1024 and signed values as HU;
  either way ``hu_calibrated=False`` because the file does not say so. Larger unsigned values
  cannot be HU + 1024 of a CT; such a file is a stretched grey picture and is scaled to 8 bit.
"""

from __future__ import annotations

import io
import warnings

import numpy as np
from PIL import Image, ImageSequence, UnidentifiedImageError

from liver_model.errors import CorruptImage, ImageTooLarge, NotAnAxialCTSlice, UnsupportedFormat
from liver_model.io.limits import MAX_SLICES, check_side, too_large_message
from liver_model.slices import CTSlice
from liver_model.windowing import LITS_GREEN, LIVER, encode_three_window

# Unsigned 16-bit values above this cannot be HU + 1024 of a CT (3071 HU is the usual ceiling).
HU_OFFSET_MAX = 4095
HU_OFFSET = 1024
# An RGB image is "grey" when channels differ by less than this on average (JPEG chroma noise).
GREY_CHANNEL_TOLERANCE = 2.0
# Mean |G - G predicted from R| above which an RGB image is not the LiTS encoding. All 1158 LiTS
# JPEGs score <= 4.0, and <= 5.4 after re-saving at JPEG quality 30 or resizing to 224-256 px;
# photographs score 11 (chelsea) to 65 (colour wheel). Measured in tests/test_bad_inputs.py.
THREE_WINDOW_TOLERANCE = 8.0


def decode_image(data: bytes, label: str) -> list[CTSlice]:
    """PNG/JPEG/TIFF (all pages of a multi-page TIFF) to slices, with size and bomb checks."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
            frames = []
            for page in ImageSequence.Iterator(image):
                check_side(page.size, label)
                if len(frames) >= MAX_SLICES:
                    raise ImageTooLarge(
                        f"{label} has more than {MAX_SLICES} pages; upload the slices around the liver only."
                    )
                page.load()
                frames.append(_image_to_slice(page, label, index=len(frames)))
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as err:
        raise ImageTooLarge(too_large_message(label)) from err
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError) as err:
        raise CorruptImage(
            f"{label} looks like an image but cannot be decoded ({err}); it is probably truncated "
            "or damaged. Export the slice again (PNG or DICOM preferred)."
        ) from err
    if len(frames) == 1:
        frames[0].index = None
    return frames



def _image_to_slice(page: Image.Image, label: str, index: int) -> CTSlice:
    """Turn one decoded Pillow frame into a CTSlice following the module's conventions."""
    mode = page.mode
    if mode in ("I;16", "I;16L", "I;16B", "I;16N", "I", "F"):
        return _sixteen_bit_slice(np.asarray(page), mode, label, index)
    if mode not in ("L", "RGB"):
        page = page.convert("L" if mode in ("1", "LA") else "RGB")  # alpha and palettes are dropped
    array = np.asarray(page)
    if array.ndim == 2:
        return _grey_slice(array, label, index, "grey image (one window), replicated to 3 channels")
    return CTSlice(
        np.ascontiguousarray(array),
        None,
        False,
        label,
        index,
        meta={"encoding": _classify_rgb(array, label)},
    )


def _grey_slice(grey: np.ndarray, label: str, index: int, encoding: str) -> CTSlice:
    """An 8-bit grey image not known in HU, replicated to the three channels the models take."""
    return CTSlice(np.repeat(grey[..., None], 3, axis=2), None, False, label, index,
                   meta={"encoding": encoding})


def _classify_rgb(rgb: np.ndarray, label: str) -> str:
    """Accept grey-as-RGB and the LiTS three-window encoding; reject anything else.

    In the LiTS encoding R and G are two windows of the same HU, so G is a fixed function of R:
    G = 0.75 R - 6.4 while R is inside the liver window, G >= 185 when R is white. A colour
    photograph has no such relation. The score is the mean distance of G from that prediction.
    """
    rgbf = rgb.astype(np.float32)
    r, g, b = rgbf[..., 0], rgbf[..., 1], rgbf[..., 2]
    if (
        np.abs(r - g).mean() < GREY_CHANNEL_TOLERANCE
        and np.abs(g - b).mean() < GREY_CHANNEL_TOLERANCE
    ):
        return "grey image stored as RGB"
    if three_window_deviation(rgb) <= THREE_WINDOW_TOLERANCE:
        return "LiTS three-window encoding"
    raise NotAnAxialCTSlice(
        f"{label} is a colour image, not a CT slice: its colours do not follow a greyscale CT or the "
        "three-window CT encoding LiverLens uses. Upload the CT slice itself (DICOM, or a greyscale PNG/JPEG "
        "export), not a photograph or a screenshot with colour overlays."
    )


def three_window_deviation(rgb: np.ndarray) -> float:
    """Mean |G - G expected from R| in grey levels, for the LiTS windows (R liver, G W200/L60).

    Zero for an exact encoding, about 1-4 for the lossy LiTS JPEGs; exposed so tests and the
    dashboard can show why an image was judged not to be a CT encoding.
    """
    r = rgb[..., 0].astype(np.float32)
    g = rgb[..., 1].astype(np.float32)
    hu = LIVER.lower + r / 255.0 * LIVER.width
    expected = np.clip((hu - LITS_GREEN.lower) / LITS_GREEN.width * 255.0, 0, 255)
    white_floor = (LIVER.upper - LITS_GREEN.lower) / LITS_GREEN.width * 255.0
    deviation = np.where(r >= 250, np.maximum(0.0, white_floor - 5 - g), np.abs(g - expected))
    return float(deviation.mean())


def _sixteen_bit_slice(array: np.ndarray, mode: str, label: str, index: int) -> CTSlice:
    """16-bit (or 32-bit/float) grey image: HU + 1024, signed HU, or a stretched grey picture."""
    if array.ndim != 2:
        raise UnsupportedFormat(
            f"{label} is a multi-channel 16-bit image; upload a greyscale CT slice."
        )
    values = array.astype(np.float32)
    lowest, highest = float(values.min()), float(values.max())
    if lowest >= 0 and highest <= HU_OFFSET_MAX and mode != "F":
        hu, assumption = values - HU_OFFSET, "unsigned 16-bit values taken as HU + 1024"
    elif lowest < 0 and lowest >= -2048 and highest <= 32767:
        hu, assumption = values, "signed values taken as HU"
    else:
        grey = np.clip(values / max(highest, 1.0) * 255.0, 0, 255).astype(np.uint8)
        return _grey_slice(grey, label, index,
                           f"16-bit grey picture (max {highest:.0f}, too large for HU + 1024), "
                           "scaled to 8 bit and replicated")
    return CTSlice(
        encode_three_window(hu),
        hu,
        False,
        label,
        index,
        meta={"encoding": "LiTS three-window encoding of HU", "hu_assumption": assumption},
    )

