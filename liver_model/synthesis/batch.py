"""Extra tumour examples for a training fold: synthetic lesions and copy-pasted real ones.

Why: the trainer has a few hundred tumour slices of about 30 patients. This turns tumour-free
liver slices of the same fold into tumour slices, either with synthetic lesions
(:mod:`liver_model.synthesis.lesions`) or with real lesions of another slice of the fold
(:mod:`liver_model.synthesis.carvemix`), and can add tumour-free examples with lesion
look-alikes outside the liver (:mod:`liver_model.synthesis.decoys`). Pass only the training
fold's arrays: a lesion copied from a validation patient would leak its labels into training.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from liver_model.errors import SynthesisError
from liver_model.synthesis.carvemix import MIN_COMPONENT_PX, carve_lesion
from liver_model.synthesis.decoys import decoy_region
from liver_model.synthesis.lesions import LesionParams, synthesize_lesion

LESIONS_PER_SLICE = (1, 3)
"""Synthetic lesions drawn into one slice, inclusive range (multifocal disease is common)."""
MIN_LIVER_FRACTION = 0.01
"""Tumour-free slices with less liver than this share of the image are not used as targets."""
ATTEMPTS_PER_EXAMPLE = 4
"""Targets (and donors) tried for one example before it is given up."""

_Example = tuple[np.ndarray, np.ndarray, int, int]
"""(image, tumour mask, target index, donor index or -1) of one new example."""


@dataclass(frozen=True)
class SyntheticTumours:
    """New training examples, in the cache's layout."""

    images: np.ndarray
    """uint8 (M, S, S, 3)."""
    livers: np.ndarray
    """uint8 (M, S, S) 0/1, the target's liver (it already contains the lesions)."""
    tumours: np.ndarray
    """uint8 (M, S, S) 0/1, the new lesions (all 0 for a decoy example)."""
    targets: np.ndarray
    """int (M,), index of the tumour-free slice each example was made from."""
    donors: np.ndarray
    """int (M,), index of the slice whose lesion was pasted; -1 for synthetic lesions."""


def augment_with_synthetic_tumours(images: np.ndarray, livers: np.ndarray, tumours: np.ndarray,
                                   rng: np.random.Generator, *, n_synthetic: int,
                                   n_copy_paste: int, n_decoys: int = 0,
                                   patients: np.ndarray | None = None,
                                   params: LesionParams = LesionParams()) -> SyntheticTumours:
    """Make ``n_synthetic`` + ``n_copy_paste`` tumour examples from the fold's tumour-free livers,
    and ``n_decoys`` tumour-free ones with a lesion look-alike beside the liver (labels unchanged).

    Targets are slices with no tumour pixel and enough liver, drawn with replacement. Donors for
    copy-paste are slices with a lesion component of at least :data:`MIN_COMPONENT_PX` pixels;
    with ``patients`` (one id per slice) a donor is always another patient than its target.
    An example whose lesion fits nowhere after :data:`ATTEMPTS_PER_EXAMPLE` targets is dropped,
    so slightly fewer examples than asked can come back (``len(result.images)`` says how many).
    """
    images, livers, tumours = _checked(images, livers, tumours, patients)
    side = images.shape[1]
    liver_px = livers.reshape(len(livers), -1).sum(axis=1)
    tumour_px = tumours.reshape(len(tumours), -1).sum(axis=1)
    targets = np.flatnonzero((tumour_px == 0) & (liver_px >= MIN_LIVER_FRACTION * side * side))
    donors = np.asarray([i for i in np.flatnonzero(tumour_px >= MIN_COMPONENT_PX)
                         if _largest_component(tumours[i]) >= MIN_COMPONENT_PX], dtype=int)
    made: list[_Example | None] = []
    if targets.size:
        made += [_synthetic_example(images, livers, targets, rng, params)
                 for _ in range(n_synthetic)]
        if donors.size:
            made += [_pasted_example(images, livers, tumours, targets, donors, patients, rng)
                     for _ in range(n_copy_paste)]
        made += [_synthetic_example(images, livers, targets, rng, params, decoy=True)
                 for _ in range(n_decoys)]
    kept = [m for m in made if m is not None]
    if not kept:
        empty = np.zeros((0, side, side), np.uint8)
        return SyntheticTumours(images=np.zeros((0, side, side, 3), np.uint8), livers=empty,
                                tumours=empty.copy(), targets=np.zeros(0, int),
                                donors=np.zeros(0, int))
    index = [m[2] for m in kept]
    return SyntheticTumours(images=np.stack([m[0] for m in kept]),
                            livers=livers[index].astype(np.uint8),
                            tumours=np.stack([m[1] for m in kept]).astype(np.uint8),
                            targets=np.asarray(index), donors=np.asarray([m[3] for m in kept]))


def _synthetic_example(images: np.ndarray, livers: np.ndarray, targets: np.ndarray,
                       rng: np.random.Generator, params: LesionParams, *,
                       decoy: bool = False) -> _Example | None:
    """One slice with 1..3 synthetic lesions in its liver, or with ``decoy`` 1..3 of them beside
    it (:func:`decoy_region`) and an empty tumour mask; None if no lesion fitted."""
    for _ in range(ATTEMPTS_PER_EXAMPLE):
        target = int(targets[rng.integers(targets.size)])
        image, drawn = images[target], np.zeros(images.shape[1:3], bool)
        beside = decoy_region(livers[target]) if decoy else None
        for _ in range(int(rng.integers(LESIONS_PER_SLICE[0], LESIONS_PER_SLICE[1] + 1))):
            region = beside if decoy else livers[target] & ~ndimage.binary_dilation(drawn, iterations=2)
            lesion = synthesize_lesion(image, region, rng, params)
            if lesion is None:
                break
            image, drawn = lesion.image, drawn | lesion.tumour
        if drawn.any():
            return image, np.zeros_like(drawn) if decoy else drawn, target, -1
    return None


def _pasted_example(images: np.ndarray, livers: np.ndarray, tumours: np.ndarray,
                    targets: np.ndarray, donors: np.ndarray, patients: np.ndarray | None,
                    rng: np.random.Generator) -> _Example | None:
    """One slice with a lesion carried from another patient; None if none fitted."""
    for _ in range(ATTEMPTS_PER_EXAMPLE):
        target = int(targets[rng.integers(targets.size)])
        allowed = donors if patients is None else donors[patients[donors] != patients[target]]
        if allowed.size == 0:
            continue
        donor = int(allowed[rng.integers(allowed.size)])
        pasted = carve_lesion(images[target], livers[target], images[donor], tumours[donor], rng,
                              source_liver=livers[donor])
        if pasted is not None:
            return pasted.image, pasted.tumour, target, donor
    return None


def _largest_component(mask: np.ndarray) -> int:
    """Pixel count of the largest 8-connected component of ``mask``."""
    labels, count = ndimage.label(mask, structure=np.ones((3, 3)))
    return int(np.bincount(labels.ravel())[1:].max()) if count else 0


def _checked(images: np.ndarray, livers: np.ndarray, tumours: np.ndarray,
             patients: np.ndarray | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The arrays as uint8 images and bool masks, after checking that they fit together."""
    images = np.asarray(images)
    if images.dtype != np.uint8 or images.ndim != 4 or images.shape[3] != 3:
        raise SynthesisError(f"images must be uint8 (N, S, S, 3), got {images.dtype} {images.shape}.")
    for name, masks in (("livers", livers), ("tumours", tumours)):
        if np.shape(masks) != images.shape[:3]:
            raise SynthesisError(f"{name} has shape {np.shape(masks)}; images are {images.shape}.")
    if patients is not None and len(patients) != len(images):
        raise SynthesisError(f"patients has {len(patients)} entries for {len(images)} images.")
    return images, np.asarray(livers).astype(bool), np.asarray(tumours).astype(bool)
