"""Every registered architecture builds, takes 0..255 RGB and returns p(tumour) in [0, 1]."""
from __future__ import annotations

import numpy as np
import pytest

from liver_model.errors import ModelNotFound
from liver_model.registry import ARCHITECTURES, get_architecture


@pytest.mark.parametrize("name", sorted(ARCHITECTURES))
def test_builds_small_and_outputs_probabilities(name: str) -> None:
    spec = ARCHITECTURES[name]
    size = max(64, spec.min_input_size)
    size += (-size) % spec.input_multiple
    model = spec.build(size)
    batch = np.random.default_rng(0).uniform(0, 255, (3, size, size, 3)).astype(np.float32)
    p = np.asarray(model(batch, training=False))
    assert p.shape == (3, 1)
    assert np.all((p >= 0) & (p <= 1))
    assert model.layers[-1].name == "p_tumour"
    cam = model.get_layer(spec.cam_layer)
    assert len(cam.output.shape) == 4, "Grad-CAM needs a spatial (h, w, c) layer"
    # Normalisation is inside the model: the first layer after the input must not be a conv.
    first = model.layers[1]
    assert "conv" not in type(first).__name__.lower()


def test_transformer_is_flagged_and_token_grid_matches_patches() -> None:
    spec = ARCHITECTURES["vit"]
    assert spec.is_transformer and not ARCHITECTURES["resnet50v2"].is_transformer
    model = spec.build(128)
    assert tuple(model.get_layer(spec.cam_layer).output.shape[1:3]) == (8, 8)


def test_invalid_sizes_and_names_are_refused() -> None:
    with pytest.raises(ValueError):
        ARCHITECTURES["vit"].build(100)
    with pytest.raises(ValueError):
        ARCHITECTURES["inception_v3"].build(64)
    with pytest.raises(ModelNotFound):
        get_architecture("alexnet")


def test_only_the_efficientnet_lite0_backbone_has_offline_imagenet_weights() -> None:
    with_weights = [n for n, s in ARCHITECTURES.items() if s.pretrained_weights is not None]
    assert with_weights == ["efficientnet_lite0", "efficientnet_lite0_tumour_map", "efficientnet_lite0_unet",
                            "efficientnet_lite0_unet_local_contrast"]
    assert ARCHITECTURES["efficientnet_lite0"].pretrained_weights.is_file()
