"""Lesion measurements a radiologist can check with a caliper: size, attenuation, position, burden.

Why a module of its own (and no UI): the findings paragraph, the case report, the command line and
the Teaching page all state the same numbers, and each number must be reproducible from the mask
it was measured on. Every function takes boolean masks and the slice's HU array and returns
dataclasses; nothing here decides *which* mask to measure (reference mask or a model's own tumour
map), that is the caller's choice and is recorded in :attr:`SliceMeasurements.source`.

Conventions (why each exists):

* **Sizes** are in mm / mm2 when the pixel spacing is known (DICOM ``PixelSpacing``, NIfTI
  zooms), else in pixels, and :attr:`SliceMeasurements.unit` says which. Anisotropic spacing is
  honoured: coordinates are scaled per axis before any distance is taken.
* **Longest diameter**: the largest distance between two corners of the lesion's pixels (the
  caliper a reader would place across the outline). **Perpendicular diameter**: the lesion's
  extent measured at right angles to it (WHO bidimensional measurement).
* **Surrounding liver**: a ring from :data:`RING_GAP_PX` to :data:`RING_GAP_PX` + ring width
  outside the lesion, inside the liver and outside every other lesion; the gap skips the
  partial-volume rim of the outline.
* **Attenuation** is stated only for HU-calibrated slices (DICOM rescale, NIfTI, .npy); an 8-bit
  PNG/JPEG carries grey levels of some window, not HU.
* **Side**: CT orientation differs between files (LiTS volumes are stored flipped in various
  ways), so patient right / left is not read from the image axes. The liver lies on the patient's
  right, so its end farther from the body's midline is taken as patient right; a lesion is placed
  in the right (lateral) or left (medial) half of the liver's own extent on this slice. These
  halves are a position on the slice, not the anatomical lobes.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
from scipy import ndimage
from scipy.spatial import ConvexHull, QhullError

from liver_model.preprocessing import body_crop_box

MIN_LESION_PX = 10
"""Connected tumour regions smaller than this are not reported (speckle of a thresholded map)."""
RING_GAP_PX = 2
"""Pixels skipped outside the lesion outline before the surrounding-liver ring starts."""
RING_WIDTH_MM = 10.0
"""Width of the surrounding-liver ring when the spacing is known."""
RING_WIDTH_PX = 12
"""Width of the ring in pixels when the spacing is unknown (about 10 mm at LiTS' ~0.8 mm)."""
MIN_RING_PX = 20
"""Fewer ring pixels than this give no reliable liver HU (lesion filling the liver's edge)."""
ISO_HU = 10.0
"""|lesion - liver| below this many HU is called iso-attenuating: about the noise of a
portal-venous liver ROI, and the difference a reader can tell in a liver window."""
EDGE_PX = 1.5
"""A lesion whose closest pixel is within this many pixels of the liver edge reaches the edge."""


@dataclass(frozen=True)
class HUStats:
    """Mean and standard deviation of HU over ``n`` pixels."""

    mean: float
    std: float
    n: int


@dataclass(frozen=True)
class Lesion:
    """One connected lesion on the slice; lengths in the slice's :attr:`SliceMeasurements.unit`."""

    number: int
    """1 = largest lesion on the slice."""
    area: float
    long_axis: float
    short_axis: float
    centroid_yx: tuple[float, float]
    touches_border: bool
    """The lesion reaches the image border: its size is a lower bound."""
    lesion_hu: HUStats | None = None
    liver_hu: HUStats | None = None
    """Surrounding-liver ring; None without a liver mask, HU or enough ring pixels."""
    side: str | None = None
    """"right (lateral) half" or "left (medial) half" of the liver on this slice; None without liver."""
    edge_distance: float | None = None
    """Distance from the lesion's closest pixel to the liver edge; None without liver."""

    @property
    def hu_difference(self) -> float | None:
        """Lesion mean minus surrounding-liver mean, HU."""
        if self.lesion_hu is None or self.liver_hu is None:
            return None
        return self.lesion_hu.mean - self.liver_hu.mean

    @property
    def attenuation(self) -> str | None:
        """"hypo-", "iso-" or "hyper-attenuating" relative to the surrounding liver."""
        diff = self.hu_difference
        if diff is None:
            return None
        if abs(diff) < ISO_HU:
            return "iso-attenuating"
        return "hypo-attenuating" if diff < 0 else "hyper-attenuating"


@dataclass(frozen=True)
class SliceMeasurements:
    """Every lesion of one slice measured from one tumour mask, plus the liver it lies in."""

    source: str
    """Where the tumour mask came from: "reference mask" or a model id."""
    liver_source: str | None
    """Where the liver mask came from (None: no liver outline was available)."""
    unit: str
    """"mm" when the pixel spacing is known, else "px"."""
    spacing_mm: tuple[float, float] | None
    hu_calibrated: bool
    lesions: tuple[Lesion, ...]
    liver_area: float | None
    """Liver area on the slice in ``unit``2; None without a liver mask, 0 for an empty one."""
    dropped_small: int = 0
    """Tumour regions under :data:`MIN_LESION_PX` pixels that were not reported."""
    notes: tuple[str, ...] = field(default_factory=tuple)
    """Why something was not measured, in words for the report."""

    @property
    def tumour_area(self) -> float:
        return float(sum(lesion.area for lesion in self.lesions))

    @property
    def tumour_burden(self) -> float | None:
        """Total lesion area / liver area on this slice (None without a liver area)."""
        if not self.liver_area:
            return None
        return self.tumour_area / self.liver_area


def measure_slice(tumour: np.ndarray, liver: np.ndarray | None, *, source: str,
                  liver_source: str | None = None, hu: np.ndarray | None = None,
                  hu_calibrated: bool = False, spacing_mm: tuple[float, float] | None = None,
                  body_rgb: np.ndarray | None = None) -> SliceMeasurements:
    """Measure every lesion of a boolean (H, W) ``tumour`` mask.

    ``liver`` (the organ including its lesions) enables the ring HU, side, edge distance and
    burden. ``hu`` is used only when ``hu_calibrated``. ``body_rgb`` (the canonical slice) locates
    the body's midline for the side; without it the image centre is used.
    """
    tumour = np.asarray(tumour, bool)
    if liver is not None:
        liver = np.asarray(liver, bool)
        if liver.shape != tumour.shape:
            raise ValueError(f"liver mask {liver.shape} differs from tumour mask {tumour.shape}")
    if hu is not None and hu.shape != tumour.shape:
        raise ValueError(f"HU array {hu.shape} differs from the mask {tumour.shape}")
    scale = _scale(spacing_mm)
    unit = "mm" if spacing_mm is not None else "px"
    use_hu = hu is not None and hu_calibrated
    notes = _notes(liver, liver_source, hu, hu_calibrated, spacing_mm)
    labels, count = ndimage.label(tumour, structure=np.ones((3, 3), bool))
    sizes = ndimage.sum_labels(tumour, labels, np.arange(1, count + 1)) if count else np.zeros(0)
    kept = [int(i) + 1 for i in np.argsort(-sizes, kind="stable") if sizes[i] >= MIN_LESION_PX]
    has_liver = liver is not None and bool(liver.any())
    liver_dt = ndimage.distance_transform_edt(liver, sampling=scale) if has_liver else None
    midline_x = _midline_x(body_rgb, tumour.shape)
    lesions = []
    for number, label in enumerate(kept, start=1):
        mask = labels == label
        long_axis, short_axis = diameters(mask, scale)
        ys, xs = np.nonzero(mask)
        lesion = Lesion(
            number=number, area=float(mask.sum() * scale[0] * scale[1]),
            long_axis=long_axis, short_axis=short_axis,
            centroid_yx=(float(ys.mean()), float(xs.mean())),
            touches_border=bool(ys.min() == 0 or xs.min() == 0 or ys.max() == mask.shape[0] - 1
                                or xs.max() == mask.shape[1] - 1),
            lesion_hu=_stats(hu[mask]) if use_hu else None,
        )
        if has_liver:
            ring = _ring(mask, liver & ~tumour, spacing_mm)
            lesion = _with_liver(lesion, mask, liver, liver_dt, midline_x, scale,
                                 _stats(hu[ring]) if use_hu and ring.sum() >= MIN_RING_PX else None)
        lesions.append(lesion)
    liver_area = float(liver.sum() * scale[0] * scale[1]) if liver is not None else None
    return SliceMeasurements(source=source, liver_source=liver_source if liver is not None else None,
                             unit=unit, spacing_mm=spacing_mm, hu_calibrated=bool(use_hu),
                             lesions=tuple(lesions), liver_area=liver_area,
                             dropped_small=int(count - len(kept)), notes=notes)


def diameters(mask: np.ndarray, scale: tuple[float, float] = (1.0, 1.0)) -> tuple[float, float]:
    """(longest diameter, largest extent perpendicular to it) of one boolean region.

    Taken over the corners of the region's pixels, scaled per axis by ``scale`` (row, column), so
    a single pixel measures its diagonal and a 10-pixel-wide bar measures 10 across.
    """
    ys, xs = np.nonzero(mask)
    if ys.size == 0:
        return 0.0, 0.0
    if ys.size > 64:  # only boundary pixels can hold the hull's corners; skip the interior
        boundary = mask & ~ndimage.binary_erosion(mask)
        ys, xs = np.nonzero(boundary)
    corners = np.concatenate([np.stack([ys + dy, xs + dx], axis=1)
                              for dy in (0, 1) for dx in (0, 1)]).astype(np.float64)
    points = corners * np.asarray(scale, np.float64)
    try:
        points = points[ConvexHull(points).vertices]
    except QhullError:  # all corners on one line cannot happen for pixels; keep all points
        pass
    deltas = points[:, None, :] - points[None, :, :]
    distances = np.hypot(deltas[..., 0], deltas[..., 1])
    i, j = np.unravel_index(int(np.argmax(distances)), distances.shape)
    long_axis = float(distances[i, j])
    if long_axis == 0.0:
        return 0.0, 0.0
    direction = (points[j] - points[i]) / long_axis
    normal = np.array([-direction[1], direction[0]])
    across = points @ normal
    return long_axis, float(across.max() - across.min())


def _scale(spacing_mm: tuple[float, float] | None) -> tuple[float, float]:
    """Per-axis (row, column) length of a pixel in the reported unit."""
    return (float(spacing_mm[0]), float(spacing_mm[1])) if spacing_mm is not None else (1.0, 1.0)


def _stats(values: np.ndarray) -> HUStats:
    values = np.asarray(values, np.float64)
    return HUStats(mean=float(values.mean()), std=float(values.std()), n=int(values.size))


def _ring(lesion: np.ndarray, liver_without_lesions: np.ndarray,
          spacing_mm: tuple[float, float] | None) -> np.ndarray:
    """Liver pixels between the gap and gap + ring width outside ``lesion`` (see module doc)."""
    scale = _scale(spacing_mm)
    gap = RING_GAP_PX * min(scale)
    width = RING_WIDTH_MM if spacing_mm is not None else float(RING_WIDTH_PX)
    # The distance transform runs on the lesion's box grown by the ring: 10x faster than the slice.
    reach = int(np.ceil((gap + width) / min(scale))) + 1
    ys, xs = np.nonzero(lesion)
    box = (slice(max(ys.min() - reach, 0), ys.max() + reach + 1),
           slice(max(xs.min() - reach, 0), xs.max() + reach + 1))
    outside = ndimage.distance_transform_edt(~lesion[box], sampling=scale)
    ring = np.zeros_like(lesion)
    ring[box] = (outside > gap) & (outside <= gap + width) & liver_without_lesions[box]
    return ring


def _midline_x(body_rgb: np.ndarray | None, shape: tuple[int, int]) -> float:
    """Column of the body's midline: centre of the body crop box, else of the image."""
    if body_rgb is None:
        return (shape[1] - 1) / 2.0
    _, x0, _, x1 = body_crop_box(body_rgb)
    return (x0 + x1 - 1) / 2.0


def _with_liver(lesion: Lesion, mask: np.ndarray, liver: np.ndarray, liver_dt: np.ndarray,
                midline_x: float, scale: tuple[float, float], liver_hu: HUStats | None) -> Lesion:
    """``lesion`` with its side, distance to the liver edge and surrounding-liver HU."""
    xs = np.nonzero(liver)[1]
    x_min, x_max = float(xs.min()), float(xs.max())
    # The liver's end farther from the body's midline is the patient's right (module doc).
    right_end, left_end = ((x_min, x_max) if abs(x_min - midline_x) > abs(x_max - midline_x)
                           else (x_max, x_min))
    span = abs(left_end - right_end) or 1.0
    fraction = abs(lesion.centroid_yx[1] - right_end) / span
    side = "right (lateral) half" if fraction < 0.5 else "left (medial) half"
    inside = liver_dt[mask]
    # A lesion pixel outside the liver (a model map overshooting it) lies at the edge.
    edge = 0.0 if not liver[mask].all() else float(inside.min())
    if edge <= EDGE_PX * max(scale):
        edge = 0.0
    return replace(lesion, side=side, edge_distance=edge, liver_hu=liver_hu)


def _notes(liver: np.ndarray | None, liver_source: str | None, hu: np.ndarray | None,
           hu_calibrated: bool, spacing_mm: tuple[float, float] | None) -> tuple[str, ...]:
    """What could not be measured on this slice, and why, in report wording."""
    notes = []
    if spacing_mm is None:
        notes.append("The pixel spacing of this image is unknown (PNG/JPEG/TIFF or a file without "
                     "spacing), so sizes are in pixels, not mm.")
    if hu is None or not hu_calibrated:
        notes.append("The image is not HU-calibrated, so lesion and liver attenuation are not "
                     "stated.")
    if liver is None:
        notes.append("No liver outline is available, so liver area, tumour burden, lesion side, "
                     "distance to the liver edge and surrounding-liver HU are not measured.")
    elif not liver.any():
        notes.append(f"No liver is outlined on this slice ({liver_source or 'liver mask'}), so "
                     "liver area, tumour burden and lesion position are not measured.")
    return tuple(notes)

