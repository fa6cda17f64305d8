"""The shipped EfficientNet-Lite0 weights reproduce the PyTorch ImageNet model (no torch needed).

``assets/pretrained/efficientnet_lite0_reference.json`` holds what the PyTorch original output on
``skimage.data.chelsea()`` when ``scripts/convert_efficientnet_lite0.py`` converted the weights; here
the Keras model with the shipped weights must give the same top-5 and logits, and the liver
variant must start from the same backbone.
"""
from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image
from skimage import data

from liver_model.architectures.efficientnet_lite import (
    CAM_LAYER,
    PRETRAINED_WEIGHTS,
    build_efficientnet_lite0,
)
from liver_model.errors import ModelNotFound

REFERENCE = json.loads((PRETRAINED_WEIGHTS.parent / "efficientnet_lite0_reference.json").read_text())
LOGIT_TOLERANCE = 1e-3


def _chelsea_224() -> np.ndarray:
    """The preprocessing the reference JSON records: bicubic shorter side 256, centre crop 224."""
    image = Image.fromarray(data.chelsea())
    scale = 256 / min(image.size)
    image = image.resize((round(image.width * scale), round(image.height * scale)), Image.BICUBIC)
    left, top = (image.width - 224) // 2, (image.height - 224) // 2
    return np.asarray(image.crop((left, top, left + 224, top + 224)), dtype=np.float32)[None]


@pytest.fixture(scope="module")
def imagenet_model():
    return build_efficientnet_lite0(224, classes=1000, weights=PRETRAINED_WEIGHTS)


def test_imagenet_port_matches_pytorch_reference(imagenet_model) -> None:
    x = _chelsea_224()
    # Same input as the reference run, so a failure below is the model's, not the resize's.
    assert float(x.mean()) == pytest.approx(REFERENCE["preprocessing"]["input_mean"], abs=1e-3)

    logits = np.asarray(imagenet_model(x, training=False))[0]
    reference_logits = np.array(REFERENCE["logits"])
    assert np.argsort(-logits)[:5].tolist() == [entry["index"] for entry in REFERENCE["top5"]]
    assert np.abs(logits - reference_logits).max() < LOGIT_TOLERANCE


def test_imagenet_model_has_lite0_parameter_count(imagenet_model) -> None:
    assert imagenet_model.count_params() == 4_694_024


def test_liver_variant_starts_from_imagenet_backbone(imagenet_model) -> None:
    liver = build_efficientnet_lite0(128, weights=PRETRAINED_WEIGHTS)

    for name in ("stem_conv", "block9_dwconv", "top_conv", "top_bn"):
        for got, want in zip(liver.get_layer(name).get_weights(), imagenet_model.get_layer(name).get_weights()):
            np.testing.assert_array_equal(got, want)
    assert liver.get_layer(CAM_LAYER).output.shape[1:] == (4, 4, 1280)

    batch = np.concatenate([_chelsea_224()[:, :128, :128], np.zeros((1, 128, 128, 3), np.float32)])
    p = np.asarray(liver(batch, training=False))
    assert p.shape == (2, 1)
    assert np.all((p >= 0) & (p <= 1))


def test_missing_weight_file_is_a_model_not_found_error(tmp_path) -> None:
    with pytest.raises(ModelNotFound):
        build_efficientnet_lite0(64, weights=tmp_path / "absent.weights.h5")
