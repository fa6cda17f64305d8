"""Test-time flips: maps averaged over flipped copies, flipped back into the slice's orientation,
and a shipped detector whose card asks for them predicts from those averages."""
from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import tensorflow as tf

from liver_model.evaluation import load_row_slice
from liver_model.flip_averaging import flip_averaged_probabilities, flips_for
from liver_model.zoo import DEFAULT_MODELS_DIR, LIVER_MAP_LAYER, TUMOUR_MAP_LAYER, load_model, read_card, write_card

MODEL = "efficientnet_lite0_unet"


def _left_half_logits(batch: tf.Tensor) -> list[tf.Tensor]:
    """A 'model' that sees tumour wherever the input's left half is: not flip-equivariant."""
    logits = tf.where(batch[..., :1] > 0, 10.0, -10.0)
    return [logits]


def test_each_copy_is_flipped_back_before_averaging() -> None:
    """A flip-equivariant map is unchanged by averaging; a map that copies a left-half marker
    comes back in the slice's own orientation (so averaging never mixes up sides)."""
    image = np.zeros((1, 8, 8, 3), np.float32)
    image[0, 2:4, 1:3] = 1.0  # a marker in the upper left
    for copies in (1, 2, 4):
        (averaged,) = flip_averaged_probabilities(_left_half_logits, tf.constant(image), copies)
        assert averaged.numpy()[0, 2:4, 1:3, 0] == pytest.approx(1.0, abs=1e-4)
        assert averaged.numpy()[0, 4:, 4:, 0].max() < 1e-4


def test_a_position_bound_map_is_averaged_with_its_flipped_copies() -> None:
    """A map that only ever fires in the left column (whatever the input) is seen by the
    left-right copy in the right column after flipping back: the average halves both."""
    def left_column(batch: tf.Tensor) -> list[tf.Tensor]:
        column = tf.one_hot(tf.zeros(tf.shape(batch)[:2], tf.int32), tf.shape(batch)[2])
        return [(column * 20.0 - 10.0)[..., None]]

    batch = tf.zeros((1, 4, 4, 3))
    (single,) = flip_averaged_probabilities(left_column, batch, 1)
    (two,) = flip_averaged_probabilities(left_column, batch, 2)
    assert single.numpy()[0, :, 0, 0] == pytest.approx(1.0, abs=1e-4)
    assert two.numpy()[0, :, 0, 0] == pytest.approx(0.5, abs=1e-4)
    assert two.numpy()[0, :, -1, 0] == pytest.approx(0.5, abs=1e-4)
    with pytest.raises(ValueError, match="one of"):
        flips_for(3)


@pytest.fixture(scope="module")
def tumour_slice(lits_manifest: Path):
    frame = pd.read_csv(lits_manifest, dtype=str, keep_default_na=False)
    row = frame[frame["label"] == "tumour"].iloc[0]
    return load_row_slice(str(lits_manifest.parent / row["path"]))


def test_a_card_with_flips_predicts_from_the_averaged_maps(tumour_slice, tmp_path: Path) -> None:
    """The shipped detector under cards asking for 1 and 4 flips: with 4, its maps are the mean
    of the four single-pass maps flipped back, and its p(tumour) is the model's own pooling and
    Platt unit applied to those averaged maps (recomputed here in NumPy)."""
    loaded = {}
    for copies in (1, 4):
        folder = tmp_path / str(copies) / MODEL
        shutil.copytree(DEFAULT_MODELS_DIR / MODEL, folder)
        card = read_card(folder)
        card.test_time_flips = copies
        write_card(folder, card)
        loaded[copies] = load_model(MODEL, folder.parent)
    single, flipped = loaded[1], loaded[4]

    x = single.prepare(tumour_slice).tensor[None]
    expected = {name: np.mean([np.flip(single.predict_maps(np.flip(x, axes))[name], axes)
                               for axes in flips_for(4)], axis=0)
                for name in (LIVER_MAP_LAYER, TUMOUR_MAP_LAYER)}
    got = flipped.predict_maps(x)
    for name in expected:
        assert got[name] == pytest.approx(expected[name], abs=1e-5)

    from scipy import ndimage

    from liver_model.architectures.unet import LIVER_DILATION
    liver = ndimage.maximum_filter(expected[LIVER_MAP_LAYER][0], size=LIVER_DILATION, mode="nearest")
    score = ndimage.uniform_filter(expected[TUMOUR_MAP_LAYER][0] * liver, size=3, mode="constant").max()
    slope, intercept = flipped.platt
    p = 1 / (1 + np.exp(-(slope * np.log(score / (1 - score)) + intercept)))
    assert flipped.predict_proba(x)[0] == pytest.approx(p, abs=2e-3)
    assert flipped.predict_proba(x)[0] != pytest.approx(single.predict_proba(x)[0], abs=1e-6)
    assert flipped.uncalibrated_score(flipped.predict_proba(x))[0] == pytest.approx(score, abs=2e-3)
