"""Class-activation maps: Grad-CAM (compiled), Grad-CAM++ and Score-CAM (tf-keras-vis).

Target layer. Each shipped architecture names its CAM layer in the registry
(``ArchSpec.cam_layer``, e.g. an identity alias on MobileNetV3's last feature map, because with a
classifier top the automatic choice lands on the 1x1 ``logits`` conv; see STACK-FACTS). For any
other model the last layer with a (N, h, w, d) output, h, w > 1, is used
(:func:`liver_model.explain.adapter.last_spatial_layer`). tf-keras-vis is always called with
that layer and ``seek_penultimate_conv_layer=False``, so it never goes looking for a Conv2D.

How a CAM is formed for the ViT. A ViT has no convolutional feature map; its spatial layer is
the **patch-token grid**: the last encoder block's patch tokens (LiverLens' ViT has no class
token; its head averages the tokens) reshaped to (h, w, d) = (S/patch, S/patch, width) by the
``token_grid`` Reshape layer. Each token is a d-dimensional feature at one patch position, which
is what a conv map is, so Grad-CAM weights the d token channels by their mean gradient over the
grid and sums them: one value per patch, upsampled bilinearly to the input. Grad-CAM++ and
Score-CAM use the same grid (Score-CAM upsamples each token channel into an input mask). The map
is therefore patch-resolution (8x8 at 128 px with 16-px patches): coarse, and it shows the last
layer's spatial evidence, not attention weights (attention rollout is a different quantity).

Grad-CAM here is a compiled ``tf.function`` of the keras-io reference algorithm, because
tf-keras-vis runs eagerly and builds a sub-model per call (0.4-1.3 s, STACK-FACTS); the test
suite checks it against both the keras-io reference and tf-keras-vis. Grad-CAM++ and Score-CAM
stay with tf-keras-vis, on the adapter's two-column logit model (see ``adapter.py`` for why).
"""
from __future__ import annotations

from typing import Any

import cv2
import keras
import numpy as np
from tf_keras_vis.gradcam_plus_plus import GradcamPlusPlus
from tf_keras_vis.scorecam import Scorecam

from liver_model.explain.adapter import ModelAdapter
from liver_model.explain.base import Progress

_CLASS_INDEX = {"normal": 0, "tumour": 1}
"""Column of the adapter's two-column logit model for each target class."""
SCORECAM_BATCH = 8
"""Masked inputs per predict batch: small enough for a progress bar that moves."""


def upsample(cam: np.ndarray, size: int) -> np.ndarray:
    """Bilinear resize of an (h, w) layer-resolution map to the (size, size) model input."""
    return cv2.resize(np.asarray(cam, np.float32), (size, size), interpolation=cv2.INTER_LINEAR)


def gradcam_layer_map(adapter: ModelAdapter, x: np.ndarray, target: str) -> np.ndarray:
    """Grad-CAM at the target layer's resolution: ReLU(sum_k mean_ij(dS/dA_ijk) * A_ijk)."""
    feats, grads = adapter.cam_parts(x, target)
    weights = grads.mean(axis=(0, 1))
    return np.maximum((feats * weights).sum(axis=-1), 0.0)


def gradcam(adapter: ModelAdapter, x: np.ndarray, target: str, params: dict[str, Any],
            progress: Progress | None) -> np.ndarray:
    """Grad-CAM upsampled to the model input (S, S); unnormalised."""
    return upsample(gradcam_layer_map(adapter, x, target), adapter.input_size)


def gradcam_plus_plus(adapter: ModelAdapter, x: np.ndarray, target: str,
                      params: dict[str, Any], progress: Progress | None) -> np.ndarray:
    """Grad-CAM++ (tf-keras-vis) on the logit pair, upsampled to (S, S); unnormalised."""
    visualiser = GradcamPlusPlus(adapter.binary_logit_model, clone=False)
    column = _CLASS_INDEX[target]
    cam = visualiser(lambda out: out[:, column], x[None].astype(np.float32),
                     penultimate_layer=adapter.cam_layer, seek_penultimate_conv_layer=False,
                     expand_cam=False, normalize_cam=False)
    return upsample(np.asarray(cam)[0], adapter.input_size)


def scorecam(adapter: ModelAdapter, x: np.ndarray, target: str, params: dict[str, Any],
             progress: Progress | None) -> np.ndarray:
    """(Faster) Score-CAM (tf-keras-vis) with ``params['max_n']`` maps; unnormalised (S, S).

    The softmax tf-keras-vis applies to the two logit columns gives (1 - p, p), so each map's
    weight is the target-class probability of the input masked by that map.
    """
    model = _ProgressPredict(adapter.binary_logit_model, progress)
    channels = int(adapter.binary_logit_model.get_layer(adapter.cam_layer).output.shape[-1])
    column = _CLASS_INDEX[target]
    cam = Scorecam(model, clone=False)(
        lambda out: out[:, column], x[None].astype(np.float32),
        penultimate_layer=adapter.cam_layer, seek_penultimate_conv_layer=False,
        max_N=min(int(params["max_n"]), channels), batch_size=SCORECAM_BATCH,
        expand_cam=False, normalize_cam=False)
    return upsample(np.asarray(cam)[0], adapter.input_size)


class _ProgressPredict:
    """Read-only proxy of a keras model whose ``predict`` reports progress per batch.

    tf-keras-vis' Score-CAM spends its time in one ``model.predict`` over the masked inputs and
    has no progress hook; a proxy (rather than patching the model) keeps the model untouched.
    """

    def __init__(self, model: Any, progress: Progress | None) -> None:
        self._model = model
        self._progress = progress

    def __getattr__(self, name: str) -> Any:
        return getattr(self._model, name)

    def predict(self, inputs: Any, batch_size: int = 32, **kwargs: Any) -> Any:
        """``model.predict`` with a callback that reports the fraction of batches done."""
        callbacks = []
        if self._progress is not None:
            n = len(inputs[0]) if isinstance(inputs, list) else len(inputs)
            callbacks.append(_BatchProgress(max(1, -(-n // batch_size)), self._progress))
        return self._model.predict(inputs, batch_size=batch_size, verbose=0,
                                   callbacks=callbacks, **kwargs)


class _BatchProgress(keras.callbacks.Callback):
    """Reports ``(batches done) / total`` after every predict batch."""

    def __init__(self, total: int, report: Progress) -> None:
        super().__init__()
        self._total = total
        self._report = report

    def on_predict_batch_end(self, batch: int, logs: Any = None) -> None:
        self._report(min(1.0, (batch + 1) / self._total))
