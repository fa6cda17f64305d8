"""The box sources of scripts/liver_view_box_headroom.py on real tumour slices."""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts"))

from liver_model.cv_data import load_cv_data  # noqa: E402
from liver_model.masks import load_label_mask  # noqa: E402
from liver_view_box_headroom import (TRAINING_BOX, WITHOUT_TUMOUR, box_sources,  # noqa: E402
                                     reference_box)
from located_box_agreement import box_area, box_iou  # noqa: E402

SIZE = 96


def test_a_locator_that_finds_the_reference_liver_gets_the_training_box_and_a_tumour_only_widens_it(
        lits_subset) -> None:
    manifest = lits_subset(lambda frame: frame[frame["tumour_pixels"].astype(int) > 3000].head(4))
    data = load_cv_data([manifest], SIZE)
    # Locator maps that are exactly the reference liver organ, on the locator's half-size grid.
    maps = data.liver[:, ::2, ::2].astype(np.float32)
    images, boxes = box_sources(data, maps, thresholds=[0.5, 0.3])
    assert set(images) == {"located, threshold 0.5", "located, threshold 0.3", WITHOUT_TUMOUR, TRAINING_BOX}
    assert images[TRAINING_BOX].shape == data.images.shape
    # (the maps are a 48 px grid here, so the boxes agree to a few slice pixels)
    assert (box_iou(boxes["located, threshold 0.5"], boxes[TRAINING_BOX]) > 0.85).all()
    assert (box_area(boxes[WITHOUT_TUMOUR]) <= box_area(boxes[TRAINING_BOX])).all()
    # Each source's image is the slice seen through that source's box, not the body crop.
    assert not np.array_equal(images[TRAINING_BOX], data.images)
    for row, record in enumerate(data.frame.itertuples()):
        label = load_label_mask(record.mask_path)
        assert tuple(boxes[TRAINING_BOX][row]) == reference_box(label, tuple(data.boxes[row]), True)
