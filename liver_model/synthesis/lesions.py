"""Synthetic liver tumours drawn into tumour-free livers (Hu et al., CVPR 2023, "Label-Free
Liver Tumor Segmentation").

Why: the shared data hold about 30 tumour patients. Hu et al. trained segmentation models on
livers with synthetic tumours only and segmented real ones about as well as with real
annotations, and small ones better. Their recipe, in 2D here:

* **shape**: an ellipse with random axes and orientation, elastically distorted by a smooth
  random displacement field;
* **location**: inside the liver (the whole lesion and its rim), not on bright vessels (HU above
  the liver's median plus a margin, after a slight blur so JPEG noise does not count as vessel);
* **texture**: Gaussian noise drawn on a coarse grid and scaled up (cubic), so its grain is
  several pixels as in real lesions rather than pixel noise;
* **attenuation**: hypo-attenuating, ``contrast_hu`` below the local liver level (as most
  hepatocellular carcinomas and metastases in the portal-venous phase, which LiTS mostly is);
* **edge**: a soft rim, blending over a few pixels in HU.

Everything is done in HU (:mod:`liver_model.synthesis.encoding`) and re-encoded, so R, G and B
stay consistent with one another as in a real slice. Mass effect (pushing the surrounding
parenchyma) is left out.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np
from scipy import ndimage

from liver_model.synthesis.encoding import (check_image, check_mask, fit_blue_mapping,
                                               recover_hu)
from liver_model.synthesis.placement import (Patch, blend, cut_frame, fit_centre,
                                                footprint, level_around, soft_edge)

RADIUS_FRACTION = (0.015, 0.08)
"""Default lesion radius range as a share of the image side: at 192 px 2.9..15 px (about
3..30 mm on a body crop), at 512 px 7.7..41 px."""
NOISE_SIGMA_PX = 1.0
"""Blur whose residual is taken as the slice's pixel noise and kept inside the lesion."""
SHRINK_STEPS = (1.0, 0.7, 0.5)
"""Radius factors tried in turn when a lesion does not fit: a small liver section still gets a
(smaller) lesion rather than none."""


@dataclass(frozen=True)
class LesionParams:
    """Ranges the random draws come from; each ``(lo, hi)`` is drawn uniformly unless noted."""

    radius_px: tuple[float, float] | None = None
    """Equivalent radius (sqrt(area / pi)) in pixels, drawn log-uniformly so small lesions are
    as common as in the data; None means :data:`RADIUS_FRACTION` of the image side."""
    contrast_hu: tuple[float, float] = (20.0, 60.0)
    """How much darker than the local liver level the lesion is."""
    texture_sigma_hu: tuple[float, float] = (4.0, 12.0)
    """Standard deviation of the lesion's texture."""
    grain_px: tuple[float, float] = (1.5, 4.0)
    """Up-scaling factor of the texture noise: its grain size in pixels."""
    max_axis_ratio: float = 1.6
    """Longest over shortest ellipse axis."""
    distortion: float = 0.15
    """Elastic displacement, as a share of the radius."""
    rim_fraction: float = 0.3
    """Width of the soft edge as a share of the radius (at least 1 px, at most 8 px)."""
    vessel_margin_hu: float = 30.0
    """Liver pixels brighter than the liver's median by this much count as vessels."""

    def rim_px(self, radius: float) -> float:
        """Soft-edge width for a lesion of ``radius`` pixels."""
        return float(np.clip(self.rim_fraction * radius, 1.0, 8.0))

    def radius_range(self, side: int) -> tuple[float, float]:
        """The radius range in pixels for an image of ``side`` pixels."""
        if self.radius_px is not None:
            return self.radius_px
        return RADIUS_FRACTION[0] * side, RADIUS_FRACTION[1] * side


@dataclass(frozen=True)
class SyntheticLesion:
    """A slice with one synthetic lesion drawn in."""

    image: np.ndarray
    """uint8 (H, W, 3), the edited slice."""
    tumour: np.ndarray
    """bool (H, W), the synthetic lesion's mask."""
    changed: np.ndarray
    """bool (H, W), the pixels the lesion and its rim touched; all others are unchanged."""
    liver_hu: float
    """Local liver level (median HU of the parenchyma around the lesion)."""
    contrast_hu: float
    """How far below ``liver_hu`` the lesion's mean HU was set."""
    radius_px: float
    """Equivalent radius of the drawn shape."""


def synthesize_lesion(image: np.ndarray, liver: np.ndarray, rng: np.random.Generator,
                      params: LesionParams = LesionParams()) -> SyntheticLesion | None:
    """Draw one synthetic hypo-attenuating lesion fully inside ``liver``.

    ``liver`` is where the lesion may go (pass the liver minus any tumour, with a margin). Returns
    None when no lesion of the allowed sizes fits in the liver away from vessels (a small liver
    section is an expected case in a batch, not an error); raises :class:`SynthesisError` for
    arrays that do not fit together.
    """
    check_image(image)
    liver = check_mask(liver, image.shape[:2], "liver")
    recovered = recover_hu(image)
    parenchyma = parenchyma_mask(recovered.hu, liver & recovered.known, params.vessel_margin_hu,
                                 image.shape[0])
    if not parenchyma.any():
        return None
    lo, hi = params.radius_range(image.shape[0])
    radius = math.exp(rng.uniform(math.log(lo), math.log(max(hi, lo))))
    for factor in SHRINK_STEPS:
        size = max(radius * factor, lo)
        shape = lesion_shape(size, rng, params)
        half = shape.shape[0] // 2
        weight = soft_edge(shape, params.rim_px(size))
        centre = fit_centre(parenchyma, footprint(weight), rng)
        if centre is not None:
            break
    else:
        return None
    level = level_around(recovered.hu, parenchyma, centre, half + int(math.ceil(size)))
    contrast = float(rng.uniform(*params.contrast_hu))
    texture = lesion_texture(shape, rng, float(rng.uniform(*params.texture_sigma_hu)),
                             float(rng.uniform(*params.grain_px)))
    # The slice's own pixel noise (its high-pass) is kept in the lesion: a lesion smoother than
    # the parenchyma around it would be a give-away a model could learn instead of the lesion.
    noise = recovered.hu - cv2.GaussianBlur(recovered.hu, (0, 0), sigmaX=NOISE_SIGMA_PX)
    lesion_hu = level - contrast + texture + cut_frame(noise, centre, half)
    patch = Patch(hu=lesion_hu.astype(np.float32), weight=weight, lesion=shape)
    edited, tumour, changed = blend(image, recovered, fit_blue_mapping(image, recovered), patch,
                                    centre)
    return SyntheticLesion(image=edited, tumour=tumour, changed=changed, liver_hu=level,
                           contrast_hu=contrast, radius_px=float(np.sqrt(shape.sum() / np.pi)))


def parenchyma_mask(hu: np.ndarray, liver: np.ndarray, vessel_margin_hu: float,
                    side: int) -> np.ndarray:
    """Liver pixels that are not bright vessels: where a synthetic lesion may lie.

    The HU are blurred first (sigma scaled with the image, 1 px at 192 px) so that single noisy
    pixels do not count as vessels and punch holes that no lesion could be placed over.
    """
    if not liver.any():
        return liver
    sigma = max(side / 192.0, 0.5)
    smooth = cv2.GaussianBlur(hu, (0, 0), sigmaX=sigma, sigmaY=sigma)
    return liver & (smooth <= np.median(hu[liver]) + vessel_margin_hu)


def lesion_shape(radius: float, rng: np.random.Generator, params: LesionParams) -> np.ndarray:
    """A distorted ellipse of about ``radius`` equivalent radius in an odd square frame.

    The frame leaves room for the distortion and the soft rim around the shape.
    """
    ratio = rng.uniform(1.0, params.max_axis_ratio)
    major, minor = radius * math.sqrt(ratio), radius / math.sqrt(ratio)
    angle = rng.uniform(0.0, math.pi)
    half = int(math.ceil(major * (1.0 + 2.0 * params.distortion) + params.rim_px(radius) / 2)) + 2
    yy, xx = np.mgrid[-half:half + 1, -half:half + 1].astype(np.float32)
    displacement = [_smooth_field(yy.shape, radius, rng) * params.distortion * radius
                    for _ in range(2)]
    y, x = yy + displacement[0], xx + displacement[1]
    along = x * math.cos(angle) + y * math.sin(angle)
    across = -x * math.sin(angle) + y * math.cos(angle)
    shape = (along / major) ** 2 + (across / minor) ** 2 <= 1.0
    labels, count = ndimage.label(shape)
    if count > 1:
        sizes = ndimage.sum_labels(shape, labels, np.arange(1, count + 1))
        shape = labels == 1 + int(np.argmax(sizes))
    shape = ndimage.binary_fill_holes(shape)
    shape[half, half] |= not shape.any()
    return shape


def _smooth_field(shape: tuple[int, int], radius: float, rng: np.random.Generator) -> np.ndarray:
    """A smooth random field of unit standard deviation (elastic deformation)."""
    field = ndimage.gaussian_filter(rng.standard_normal(shape).astype(np.float32),
                                    sigma=max(radius / 2.0, 1.0))
    spread = field.std()
    return field / spread if spread > 0 else field


def lesion_texture(shape: np.ndarray, rng: np.random.Generator, sigma_hu: float,
                   grain_px: float) -> np.ndarray:
    """Scaled-up Gaussian noise of ``sigma_hu`` and zero mean over the lesion.

    Zero mean over the lesion keeps its mean HU exactly at the requested contrast, however few
    grains a small lesion holds.
    """
    side = shape.shape[0]
    coarse = rng.standard_normal((int(math.ceil(side / grain_px)) + 2,) * 2).astype(np.float32)
    fine = ndimage.zoom(coarse, grain_px, order=3)[:side, :side]
    fine = ndimage.gaussian_filter(fine, sigma=grain_px / 2.0)
    inside = fine[shape]
    spread = inside.std()
    if spread == 0:
        return np.zeros_like(fine)
    return ((fine - inside.mean()) / spread * sigma_hu).astype(np.float32)

