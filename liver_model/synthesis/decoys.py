"""Synthetic lesion look-alikes drawn *outside* the liver, labelled as neither liver nor tumour.

Why (README, "the two hard patients"): ``lits-034`` has no liver tumour but a large renal mass
against the liver, and it holds a third of every detector's false alarms. On its flagged slices
the tumour map peaks outside the reference liver, where the model's own liver map reads liver:
the model takes the mass in as liver and its inside as tumour. No training patient shows it a
dark mass beside the liver that is not a liver tumour. A decoy is such a mass: a synthetic lesion
(the shapes, textures and contrasts of :mod:`liver_model.synthesis.lesions`) drawn into the soft
tissue just outside the liver, with the slice's labels left as they were. Only where it lies tells
a decoy from a tumour, which is the lesson the liver gate needs.

This module says where a decoy may lie; :mod:`liver_model.synthesis.batch` draws it there with
:func:`~liver_model.synthesis.lesions.synthesize_lesion`, which keeps it on tissue whose HU the
three windows hold (not fat or air) and off bright structures, as it keeps a lesion.
"""
from __future__ import annotations

import cv2
import numpy as np

DECOY_GAP_FRACTION = 0.01
"""A decoy keeps this share of the image side (2 px at 192 px) away from the liver, so it never
touches liver pixels and the liver label stays true."""
DECOY_REACH_FRACTION = 0.2
"""A decoy lies within this share of the image side (38 px at 192 px, ~4 cm in a liver view)
of the liver: near it, where the renal mass sits and a model must decide where the liver ends,
and wide enough for lesions of the synthetic size range (up to 15 px radius at 192 px)."""


def decoy_region(liver: np.ndarray) -> np.ndarray:
    """Pixels where a decoy may lie: the ring from the gap to the reach around ``liver``."""
    liver = np.asarray(liver, np.uint8)
    side = liver.shape[0]

    def grown(fraction: float) -> np.ndarray:
        radius = max(1, int(round(fraction * side)))
        disc = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))
        return cv2.dilate(liver, disc).astype(bool)

    return grown(DECOY_REACH_FRACTION) & ~grown(DECOY_GAP_FRACTION)

