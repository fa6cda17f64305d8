"""Model-randomisation sanity check (Adebayo et al. 2018, "Sanity Checks for Saliency Maps").

An explanation that looks the same for a trained model and for one whose top layers are
re-initialised at random is explaining the image (edges, bright organs), not the model. The check
re-initialises the top ``top_layers`` weighted layers of a *copy* (cascading from the output, as
in the paper), explains both models on the same slice and reports the Spearman rank correlation
of the two maps: near 1 means the method fails the check; well below 1 means it passes.

The copy is ``keras.models.clone_model`` + the original weights, so the cached model the app
holds is never touched. Kernels get Glorot-uniform values (the Keras default initialiser),
biases and BatchNorm/LayerNorm offsets 0 and scales 1, from a seeded generator.
"""
from __future__ import annotations

from dataclasses import dataclass

import keras
import numpy as np

from liver_model.explain.base import Explanation
from liver_model.explain.engine import ModelLike, SliceInput, explain
from liver_model.explain.quality import rank_correlation
from liver_model.zoo import LoadedModel

DEFAULT_TOP_LAYERS = 4
"""The output Dense plus the last few backbone layers: enough to cut the map from the training."""
_SCALE_NAMES = ("gamma", "scale")


@dataclass
class SanityResult:
    """Outcome of one randomisation check."""

    rank_correlation: float
    """Spearman correlation of the trained and randomised maps (NaN if either is constant)."""
    randomised_layers: list[str]
    trained: Explanation
    randomised: Explanation


def randomised_copy(model: keras.Model, top_layers: int = DEFAULT_TOP_LAYERS,
                    seed: int = 0) -> tuple[keras.Model, list[str]]:
    """A copy of ``model`` with its top ``top_layers`` weighted layers re-initialised.

    Returns the copy and the names of the layers that were randomised (output first).
    """
    copy = keras.models.clone_model(model)
    copy.set_weights(model.get_weights())
    rng = np.random.default_rng(seed)
    weighted = [layer for layer in reversed(copy.layers) if layer.trainable_weights]
    chosen = weighted[:top_layers]
    for layer in chosen:
        for variable in layer.trainable_weights:
            variable.assign(_initial_value(variable.name, tuple(variable.shape), rng))
    return copy, [layer.name for layer in chosen]


def _initial_value(name: str, shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
    """Glorot-uniform kernels; ones for normalisation scales; zeros for biases and offsets."""
    if len(shape) < 2:
        fill = 1.0 if any(s in name for s in _SCALE_NAMES) else 0.0
        return np.full(shape, fill, np.float32)
    receptive = int(np.prod(shape[:-2])) if len(shape) > 2 else 1
    fan_in, fan_out = shape[-2] * receptive, shape[-1] * receptive
    limit = np.sqrt(6.0 / (fan_in + fan_out))
    return rng.uniform(-limit, limit, size=shape).astype(np.float32)


def randomised_model(model: ModelLike, top_layers: int = DEFAULT_TOP_LAYERS,
                     seed: int = 0) -> tuple[ModelLike, list[str]]:
    """:func:`randomised_copy` of a shipped or bare model, in the same kind of wrapper.

    A shipped model's copy keeps its card, so the same CAM layer is targeted. Build it once
    and pass it to :func:`model_randomisation_check` for many slices and methods: each copy's
    compiled functions are traced anew, which costs seconds.
    """
    if isinstance(model, LoadedModel):
        copy, names = randomised_copy(model.keras_model, top_layers, seed)
        return LoadedModel(model_id=f"{model.model_id}-randomised", keras_model=copy,
                           card=model.card), names
    return randomised_copy(model, top_layers, seed)


def model_randomisation_check(model: ModelLike, ct: SliceInput, method: str, *,
                              top_layers: int = DEFAULT_TOP_LAYERS, seed: int = 0,
                              target: str = "tumour", preset: str | None = None,
                              trained: Explanation | None = None,
                              randomised: tuple[ModelLike, list[str]] | None = None
                              ) -> SanityResult:
    """Explain ``model`` and its randomised copy on ``ct``; compare the maps by rank.

    ``target`` must be a fixed class ("tumour" or "normal") so both maps answer the same
    question. ``trained`` (the trained model's explanation with the same method, target and
    preset) and ``randomised`` (from :func:`randomised_model`) may be passed in when the caller
    already has them, to save a slow run or a re-trace.
    """
    if target == "predicted":
        raise ValueError("the randomisation check needs a fixed target class")
    random_model, names = randomised or randomised_model(model, top_layers, seed)
    if trained is None:
        trained = explain(model, ct, method, target=target, preset=preset)
    random_result = explain(random_model, ct, method, target=target, preset=preset)
    return SanityResult(
        rank_correlation=rank_correlation(trained.model_input_heatmap,
                                          random_result.model_input_heatmap),
        randomised_layers=names, trained=trained, randomised=random_result)
