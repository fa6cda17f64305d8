"""How much darker than the liver around them real lesions are, measured as synthesis draws them.

Why: the synthetic lesions' contrast range (:class:`liver_model.synthesis.lesions.LesionParams`)
is a recipe setting, and a range that real lesions fall outside of teaches the model a narrower
disease than the data hold. This measures each real lesion the way a synthetic one is drawn: in
the HU recovered from the three-window encoding (:func:`recover_hu`, the HU synthesis edits), as
the local liver level (:func:`level_around`, median of the non-vessel parenchyma in a frame around
the lesion) minus the lesion's median HU. Positive = darker than the liver (hypo-attenuating).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from liver_model.synthesis.encoding import check_image, check_mask, recover_hu
from liver_model.synthesis.lesions import LesionParams, parenchyma_mask
from liver_model.synthesis.placement import frame_mask, level_around

MIN_LESION_PX = 30
"""Smaller connected tumour regions are skipped: a handful of pixels has no stable median."""
MIN_KNOWN_PX = 10
"""Pixels of a lesion (and of its liver frame) whose HU must be known (not clipped) to measure it."""
FRAME_RADII = 2.0
"""The liver frame reaches this many equivalent radii from the lesion's centre (as synthesis's
``half + size``: about two radii)."""


@dataclass(frozen=True)
class LesionContrast:
    """One connected lesion of a reference mask."""

    pixels: int
    liver_hu: float
    """Local liver level around the lesion (median HU of the non-vessel parenchyma)."""
    contrast_hu: float
    """``liver_hu`` minus the lesion's median HU: positive = darker than the liver."""


def lesion_contrasts(image: np.ndarray, liver: np.ndarray, tumour: np.ndarray,
                     params: LesionParams = LesionParams()) -> list[LesionContrast]:
    """Every measurable lesion of ``tumour`` on the three-window slice ``image``.

    ``liver`` is the organ outline (it may include the tumour; tumour pixels are never counted
    as liver). Lesions under :data:`MIN_LESION_PX` pixels, or with too few known-HU pixels in
    them or in the liver around them, are left out rather than guessed.
    """
    check_image(image)
    liver = check_mask(liver, image.shape[:2], "liver")
    tumour = check_mask(tumour, image.shape[:2], "tumour")
    recovered = recover_hu(image)
    parenchyma = parenchyma_mask(recovered.hu, liver & ~tumour & recovered.known,
                                 params.vessel_margin_hu, image.shape[0])
    labels, count = ndimage.label(tumour)
    found: list[LesionContrast] = []
    for index in range(1, count + 1):
        lesion = labels == index
        pixels = int(lesion.sum())
        known = lesion & recovered.known
        if pixels < MIN_LESION_PX or known.sum() < MIN_KNOWN_PX:
            continue
        centre = tuple(int(round(c)) for c in ndimage.center_of_mass(lesion))
        half = int(math.ceil(FRAME_RADII * math.sqrt(pixels / math.pi)))
        level = level_around(recovered.hu, parenchyma, centre, half)
        if level is None or (parenchyma & frame_mask(lesion.shape, centre, half)).sum() < MIN_KNOWN_PX:
            continue
        found.append(LesionContrast(pixels=pixels, liver_hu=level,
                                    contrast_hu=level - float(np.median(recovered.hu[known]))))
    return found

