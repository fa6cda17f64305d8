"""A fixed input layer that shows the liver window's *local* contrast in place of the B channel.

Why (issue 9, README "detection by lesion contrast"): the detectors find 97 % of tumour slices
whose lesion is >= 40 HU darker than the liver around it, but 38 % of those < 10 HU darker, and
those faint lesions are most of the misses on the patients that decide the pooled AUC
(``lits-039``: 22 of its 38 tumour slices). In the R channel (liver window, 150 HU over 255 grey
levels) a 10 HU lesion is 17 grey levels on a liver whose own level moves by ~100 grey levels
between contrast phases and patients. This layer gives the encoder that difference directly:
``B' = 128 + gain * (R - gaussian_blur(R))``, so tissue as bright as its surroundings is mid-grey
whatever the phase, and a faint lesion is ``gain`` times darker than in R.

The B channel it replaces is the per-slice histogram-equalised full HU range; inside a liver-view
box it mostly separates fat from air, which R and G already show as black. R and G pass unchanged.

The layer has no weights: it is part of the architecture (as the ImageNet normalisation is), so
the one preprocessing path (:func:`liver_model.preprocessing.prepare`) stays the same for every
model and a model card needs no new preprocessing version.
"""
from __future__ import annotations

import keras
import numpy as np
from keras import layers, ops

#: Blur scale as a share of the input side: 8 px at 192 px, ~8 mm in a liver-view box. Lesions
#: up to about twice this show whole; larger ones as a dark rim (R keeps their full extent).
SIGMA_FRACTION = 1.0 / 24.0
#: Contrast gain: a 10 HU lesion (17 grey levels in R) becomes ~34 grey levels darker than 128.
GAIN = 2.0
MID_GREY = 128.0
LIVER_WINDOW_CHANNEL = 0


def gaussian_taps(sigma: float) -> np.ndarray:
    """Normalised 1-D Gaussian of radius ``3 * sigma`` (float32)."""
    radius = max(1, int(np.ceil(3.0 * sigma)))
    offsets = np.arange(-radius, radius + 1, dtype=np.float64)
    taps = np.exp(-0.5 * (offsets / sigma) ** 2)
    return (taps / taps.sum()).astype(np.float32)


@keras.saving.register_keras_serializable(package="liver_model")
class LocalContrastChannel(layers.Layer):
    """(N, S, S, 3) 0..255 -> the same with channel 2 replaced by R's local contrast."""

    def __init__(self, sigma_fraction: float = SIGMA_FRACTION, gain: float = GAIN,
                 **kwargs: object) -> None:
        super().__init__(**kwargs)
        self.sigma_fraction = float(sigma_fraction)
        self.gain = float(gain)

    def build(self, input_shape: tuple[int | None, ...]) -> None:
        side = int(input_shape[1])
        self._taps = gaussian_taps(self.sigma_fraction * side)
        super().build(input_shape)

    def call(self, images: keras.KerasTensor) -> keras.KerasTensor:
        liver_window = images[..., LIVER_WINDOW_CHANNEL:LIVER_WINDOW_CHANNEL + 1]
        radius = len(self._taps) // 2
        # Reflect the border so the slice edge does not read as a contrast step against zeros.
        padded = ops.pad(liver_window, [[0, 0], [radius, radius], [radius, radius], [0, 0]],
                         mode="reflect")
        taps = ops.convert_to_tensor(self._taps)
        blurred = ops.conv(padded, ops.reshape(taps, (-1, 1, 1, 1)), padding="valid")
        blurred = ops.conv(blurred, ops.reshape(taps, (1, -1, 1, 1)), padding="valid")
        contrast = ops.clip(MID_GREY + self.gain * (liver_window - blurred), 0.0, 255.0)
        return ops.concatenate([images[..., :2], contrast], axis=-1)

    def compute_output_shape(self, input_shape: tuple[int | None, ...]) -> tuple[int | None, ...]:
        return input_shape

    def get_config(self) -> dict[str, object]:
        return {**super().get_config(), "sigma_fraction": self.sigma_fraction, "gain": self.gain}
