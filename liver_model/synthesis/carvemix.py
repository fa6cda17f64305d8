"""Real lesions carried from one patient's slice into another's liver (CarveMix-style copy-paste).

Why: synthetic lesions (:mod:`liver_model.synthesis.lesions`) teach shape and contrast, but real
lesions have textures, rims and necrotic cores no noise model reproduces. CarveMix (Zhang et
al., MICCAI 2021) carves a real lesion out with a margin of its surroundings and pastes it,
with its label, into another image. Here the carved region is one connected lesion component
grown by a random margin, turned by a random angle (and possibly mirrored), placed where it fits
wholly inside the target's liver, and blended in HU with a soft edge.

Two patients' livers differ in level (contrast phase, scanner), so the carved HU are shifted by
the difference between the target's liver level around the placement and the source's liver
level around the lesion: the lesion keeps its contrast to its own liver, which is what makes it
visible, rather than its absolute HU.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np
from scipy import ndimage

from liver_model.errors import SynthesisError
from liver_model.synthesis.encoding import check_image, check_mask, fit_blue_mapping, recover_hu
from liver_model.synthesis.placement import (Patch, blend, cut_frame, fit_centre, footprint,
                                             level_around, soft_edge)

MIN_COMPONENT_PX = 4
"""Smaller lesion components (JPEG or resampling specks of a mask) are not carved."""
MARGIN_FRACTION = (0.1, 0.3)
"""Margin of surrounding tissue carved with the lesion, as a share of its equivalent radius."""
RIM_FRACTION = 0.3
"""Width of the soft edge as a share of the equivalent radius (at least 1 px, at most 6 px)."""
RING_PX = 3
"""Width of the ring around the carved region where the liver level is read."""


@dataclass(frozen=True)
class CarvedLesion:
    """A target slice with one real lesion pasted in."""

    image: np.ndarray
    """uint8 (H, W, 3), the edited target slice."""
    tumour: np.ndarray
    """bool (H, W), the pasted lesion's mask."""
    changed: np.ndarray
    """bool (H, W), the pixels the pasted region and its rim touched; all others are unchanged."""
    source_area_px: int
    """Area of the carved lesion component in the source."""
    angle_deg: float
    """Rotation applied to the carved region."""
    mirrored: bool
    """Whether it was mirrored (left-right) before the rotation."""
    hu_shift: float
    """HU added to the carved region to match the target's liver level."""


def carve_lesion(target_image: np.ndarray, target_liver: np.ndarray, source_image: np.ndarray,
                 source_tumour: np.ndarray, rng: np.random.Generator, *,
                 source_liver: np.ndarray | None = None) -> CarvedLesion | None:
    """Paste one random lesion component of ``source_tumour`` into ``target_liver``.

    ``target_liver`` is where the lesion may go (the liver minus any tumour). ``source_liver``
    (the source's liver organ mask), when given, confines the carved margin and the source liver
    level to the liver; without it, any pixel of known HU around the lesion counts. Returns None when
    the carved region fits nowhere in it; raises :class:`SynthesisError` when the source has no
    lesion component of at least :data:`MIN_COMPONENT_PX` pixels or the arrays do not fit.
    """
    check_image(target_image, "target_image")
    check_image(source_image, "source_image")
    target_liver = check_mask(target_liver, target_image.shape[:2], "target liver")
    source_tumour = check_mask(source_tumour, source_image.shape[:2], "source tumour")
    labels, count = ndimage.label(source_tumour, structure=np.ones((3, 3)))
    areas = ndimage.sum_labels(source_tumour, labels, np.arange(1, count + 1))
    candidates = 1 + np.flatnonzero(areas >= MIN_COMPONENT_PX)
    if candidates.size == 0:
        raise SynthesisError(f"The source slice has no lesion of at least {MIN_COMPONENT_PX} px "
                             "to carve.")
    component = labels == candidates[rng.integers(candidates.size)]
    source = recover_hu(source_image)
    source_region = source.known if source_liver is None else (
        source.known & check_mask(source_liver, source_image.shape[:2], "source liver"))
    radius = math.sqrt(component.sum() / math.pi)
    margin = max(1, int(round(rng.uniform(*MARGIN_FRACTION) * radius)))
    rim = float(np.clip(RIM_FRACTION * radius, 1.0, 6.0))
    angle = float(rng.uniform(-180.0, 180.0))
    mirrored = bool(rng.random() < 0.5)
    patch, source_level = _carve(source.hu, source_region, component, source_tumour, margin, rim,
                                 angle, mirrored)
    target = recover_hu(target_image)
    centre = fit_centre(target_liver, footprint(patch.weight), rng)
    if centre is None:
        return None
    target_level = level_around(target.hu, target_liver & target.known, centre,
                                 patch.half + RING_PX)
    shift = 0.0 if source_level is None or target_level is None else target_level - source_level
    shifted = Patch(hu=patch.hu + np.float32(shift), weight=patch.weight, lesion=patch.lesion)
    edited, tumour, changed = blend(target_image, target, fit_blue_mapping(target_image, target),
                                    shifted, centre)
    return CarvedLesion(image=edited, tumour=tumour, changed=changed,
                        source_area_px=int(component.sum()), angle_deg=angle, mirrored=mirrored,
                        hu_shift=float(shift))


def _carve(hu: np.ndarray, liver: np.ndarray, component: np.ndarray, all_tumour: np.ndarray,
           margin: int, rim: float, angle: float, mirrored: bool) -> tuple[Patch, float | None]:
    """Cut the component with its margin into a turned square patch; also the source liver level.

    The region is the component grown by ``margin`` within ``liver`` (a lesion at the liver's
    edge must not bring fat or a neighbouring organ along into the target's liver), minus other
    lesions (their pixels would be pasted unlabelled). The frame is large enough for any rotation
    of the region and its rim.
    """
    grown = ndimage.binary_dilation(component, iterations=margin) & (liver | component)
    region = ndimage.binary_fill_holes(grown) & ~(all_tumour & ~component)
    ring = ndimage.binary_dilation(region, iterations=RING_PX) & ~region & ~all_tumour & liver
    ys, xs = np.nonzero(region)
    cy, cx = (int(ys.min()) + int(ys.max())) // 2, (int(xs.min()) + int(xs.max())) // 2
    reach = math.hypot(ys.max() - ys.min() + 1, xs.max() - xs.min() + 1) / 2.0
    half = int(math.ceil(reach + rim / 2.0)) + 2
    level = level_around(hu, ring, (cy, cx), half + RING_PX)
    hu_patch, lesion, carved = (cut_frame(a, (cy, cx), half) for a in (hu, component, region))
    if mirrored:
        hu_patch, lesion, carved = (np.fliplr(a) for a in (hu_patch, lesion, carved))
    turn = cv2.getRotationMatrix2D((float(half), float(half)), angle, 1.0)
    side = 2 * half + 1

    def rotate(a: np.ndarray, border: int) -> np.ndarray:
        return cv2.warpAffine(np.ascontiguousarray(a, np.float32), turn, (side, side),
                              flags=cv2.INTER_LINEAR, borderMode=border)

    hu_turned = rotate(hu_patch, cv2.BORDER_REPLICATE)
    lesion_turned = rotate(lesion, cv2.BORDER_CONSTANT) >= 0.5
    carved_turned = (rotate(carved, cv2.BORDER_CONSTANT) >= 0.5) | lesion_turned
    patch = Patch(hu=hu_turned, weight=soft_edge(carved_turned, rim), lesion=lesion_turned)
    return patch, level

