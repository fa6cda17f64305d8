"""The shipped models: their cards, and loading one ready to predict.

A shipped model is a folder ``assets/models/<model_id>/`` with ``model.weights.h5``, ``card.json``,
``history.csv`` and ``MODEL_CARD.md``. Only weights are stored: a model is rebuilt with the
registry's builder for the card's architecture and input size, then its weights are loaded. That
needs no custom-object deserialisation and no pickled code, and it survives Keras upgrades that
break ``.keras`` files (see STACK-FACTS).
"""
from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import h5py
import keras
import numpy as np
import tensorflow as tf

from liver_model.architectures.keras_apps import OUTPUT_LAYER
from liver_model.architectures.unet import SCORE_LAYER, SCORE_LOGIT_LAYER
from liver_model.card_files import CardRecord
from liver_model.card_markdown import render_markdown
from liver_model.errors import ModelNotFound
from liver_model.flip_averaging import flip_passes, pooled_score
from liver_model.liver_view import prepare_liver_view
from liver_model.paths import ASSETS_DIR
from liver_model.preprocessing import (PREPROCESSING_VERSION, PreparedSlice, SliceLike, prepare,
                                       prepare_batch)
from liver_model.registry import get_architecture

DEFAULT_MODELS_DIR = ASSETS_DIR / "models"
WEIGHTS_FILE = "model.weights.h5"
CARD_FILE = "card.json"
HISTORY_FILE = "history.csv"
MARKDOWN_FILE = "MODEL_CARD.md"


@dataclass
class ModelCard(CardRecord):
    """What a user must know about a shipped model (``card.json``)."""

    model_id: str
    architecture: str
    family: str
    input_size: int
    params: int
    initialisation: str
    """"imagenet" or "scratch"."""
    initialisation_detail: str
    cam_layer: str
    is_transformer: bool
    file_size_bytes: int = 0
    weights_dtype: str = "float32"
    training_data: dict[str, Any] = field(default_factory=dict)
    """manifest, split file, slices/patients/tumour slices per split."""
    preprocessing: str = ("liver_model.preprocessing.prepare: body crop, square, area resize; "
                          "float32 RGB 0..255; normalisation is a layer inside the model")
    preprocessing_version: int = 1
    """``PREPROCESSING_VERSION`` the model was trained with; cards older than the field are 1."""
    view: str = "body"
    """"body": prepare's body crop. "liver": the square around the largest liver region that
    :attr:`locator` finds (:mod:`liver_model.liver_view`); the model was trained on boxes around
    the reference liver."""
    locator: str | None = None
    """model_id of the body-view segmentation model whose liver map places a liver-view model's
    box; it must be shipped beside it."""
    test_time_flips: int = 1
    """Flipped copies of the slice whose liver and tumour maps are averaged before the slice
    score pools them (:mod:`liver_model.flip_averaging`): 1 = the slice alone. The calibration
    and threshold were chosen out of fold with the same number."""
    tumour_map_weight: float = 0.0
    """Weight of the tumour-map loss during training (0: trained on slice labels only)."""
    seed: int = 0
    epochs_requested: int = 0
    epochs_run: int = 0
    best_epoch: int = 0
    best_val_auc: float | None = None
    training_time_s: float = 0.0
    hardware: str = ""
    threshold: float = 0.5
    threshold_rule: str = ""
    validation_metrics: dict[str, Any] = field(default_factory=dict)
    test_metrics: dict[str, Any] | None = None
    """Filled by ``python -m liver_model evaluate`` on the test patients."""
    cross_validation: dict[str, Any] | None = None
    """Patient-level cross-validation of the recipe (``python -m liver_model cv``): pooled ROC AUC
    with its interval, and the sensitivity / specificity expected at :attr:`threshold`. For models
    trained on every patient this, not ``test_metrics``, is the expected performance."""
    notes: str = ""


@dataclass(frozen=True)
class Prediction:
    """Everything one set of forward passes gives for a batch: the call, each copy's call, maps."""

    p: np.ndarray
    """p(tumour) (N,): the model's call (from the flip-averaged maps where the card asks)."""
    copies: np.ndarray
    """(N, copies) each flipped copy's own p, in the order of
    :data:`liver_model.flip_agreement.COPY_NAMES`; (N, 1), equal to ``p``, for one pass."""
    maps: dict[str, np.ndarray]
    """Per-pixel probabilities as :meth:`LoadedModel.predict_maps` (empty for label-only models)."""


@dataclass
class LoadedModel:
    """A shipped model ready to predict: Keras model plus its card and a compiled predict call."""

    model_id: str
    keras_model: keras.Model
    card: ModelCard
    locator: LoadedModel | None = None
    """The loaded :attr:`ModelCard.locator` of a liver-view model; None for body-view models."""
    _predict: Any = field(default=None, repr=False)
    _run: Any = field(default=None, repr=False)
    _platt: tuple[float, float] | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        size = self.card.input_size
        model = self.keras_model
        signature = [tf.TensorSpec((None, size, size, 3), tf.float32)]

        @tf.function(input_signature=signature, reduce_retracing=True)
        def _predict(batch: tf.Tensor) -> tf.Tensor:
            return model(batch, training=False)[:, 0]

        self._predict = _predict
        if _has_layer(model, SCORE_LAYER):
            kernel, bias = model.get_layer(OUTPUT_LAYER).get_weights()
            self._platt = (float(kernel.ravel()[0]), float(bias.ravel()[0]))
        # Built here, in the loading thread: Keras names sub-model ops with a thread-local
        # counter, and a sub-model built later in another (Streamlit script) thread clashes.
        names = [name for name in MAP_LAYERS if _has_layer(model, name)]
        if TUMOUR_MAP_LAYERS & set(names):
            self._run = self._map_run(names, signature)
            if self.card.test_time_flips != 1:
                self._predict = lambda batch: self._run(batch)[P_KEY]
        elif self.card.test_time_flips != 1:
            raise ModelNotFound(f"Model '{self.model_id}' asks for test-time flips but predicts no "
                                "maps to average.")

    def _map_run(self, names: list[str], signature: list[tf.TensorSpec]) -> Any:
        """One compiled call: the card's flipped passes, each giving its maps and its own p; the
        maps averaged; p from the averages, pooled and calibrated by the model's own layers."""
        model = self.keras_model
        copies = self.card.test_time_flips
        viewer = keras.Model(model.input, [model.get_layer(n).output for n in names] + [model.output])
        if copies != 1 and (self._platt is None or LIVER_MAP_LAYER not in names):
            raise ModelNotFound(f"Model '{self.model_id}' asks for test-time flips but has no "
                                "liver-gated slice score to pool them.")
        pool, logit, platt = ((model.get_layer(n) for n in (SCORE_LAYER, SCORE_LOGIT_LAYER, OUTPUT_LAYER))
                              if copies != 1 else (None, None, None))

        def one_pass(batch: tf.Tensor) -> tuple[list[tf.Tensor], tf.Tensor]:
            outputs = viewer(batch, training=False)
            return list(outputs[:-1]), outputs[-1][:, 0]

        @tf.function(input_signature=signature, reduce_retracing=True)
        def _run(batch: tf.Tensor) -> dict[str, tf.Tensor]:
            averaged, per_copy = flip_passes(one_pass, batch, copies)
            result = {n: m[..., 0] for n, m in zip(names, averaged)}
            if copies == 1:
                result[P_KEY] = per_copy[:, 0]
            else:
                score = pooled_score(pool, averaged[names.index(LIVER_MAP_LAYER)],
                                     averaged[names.index(TUMOUR_MAP_LAYER)])
                result[P_KEY] = platt(logit(score))[:, 0]
            result[COPIES_KEY] = per_copy
            return result

        return _run

    @property
    def platt(self) -> tuple[float, float] | None:
        """(slope, intercept) of a segmentation detector's calibration unit
        (``p = sigmoid(slope * logit(s) + intercept)``); None for models without a slice score."""
        return self._platt

    def uncalibrated_score(self, p: float | np.ndarray) -> np.ndarray:
        """The detector's slice score ``s`` (max tumour probability in the liver) behind ``p``.

        Why invert instead of running the model again: an ensemble combines its members' raw
        scores, which share one scale, while each member's Platt unit squeezes its own scale;
        the unit is a strictly increasing map, so ``s`` is recovered exactly from the ``p``
        the app has already cached.
        """
        if self._platt is None or self._platt[0] <= 0:
            raise ModelNotFound(f"Model '{self.model_id}' has no invertible slice-score "
                                "calibration (only segmentation detectors have one).")
        slope, intercept = self._platt
        p64 = np.clip(np.asarray(p, np.float64), 1e-12, 1 - 1e-12)
        logit_s = (np.log(p64) - np.log1p(-p64) - intercept) / slope
        return 1.0 / (1.0 + np.exp(-logit_s))

    @property
    def has_maps(self) -> bool:
        """True if the model predicts a tumour map (U-Net detectors, map-head models)."""
        return self._run is not None

    def predict_maps(self, batch: np.ndarray) -> dict[str, np.ndarray]:
        """Per-pixel probabilities of the model's own maps, at the maps' resolution.

        Keys are layer names: ``seg_liver_logits`` / ``seg_tumour_logits`` (U-Net detectors) or
        ``tumour_logit_map`` (map-head models, tumour only). Empty for label-only models.
        """
        return self.predict(batch).maps

    def predict(self, batch: np.ndarray) -> Prediction:
        """p(tumour), each flipped copy's p and the maps of a float32 (N, S, S, 3) batch, all from
        one set of forward passes (what Diagnose shows of one slice)."""
        batch = np.asarray(batch, np.float32)
        if batch.ndim == 3:
            batch = batch[None]
        if self._run is None:
            p = self.predict_proba(batch)
            return Prediction(p=p, copies=p[:, None], maps={})
        out = {k: v.numpy() for k, v in self._run(tf.constant(batch)).items()}
        return Prediction(p=out.pop(P_KEY), copies=out.pop(COPIES_KEY), maps=out)

    @property
    def input_size(self) -> int:
        return self.card.input_size

    @property
    def view_key(self) -> str:
        """Equal for two models exactly when :meth:`prepare` gives them the same input."""
        if self.locator is None:
            return str(self.input_size)
        return f"{self.input_size}:liver:{self.locator.model_id}"

    def prepare(self, ct: SliceLike, body: PreparedSlice | None = None,
                liver_map: np.ndarray | None = None) -> PreparedSlice:
        """The slice as this model sees it: what predictions, maps and explanations must use.

        Body-view models: :func:`liver_model.preprocessing.prepare`. Liver-view models: the
        locator's liver map on its own body crop places the box
        (:func:`liver_model.liver_view.prepare_liver_view`). A caller that has already run the
        locator on the slice passes its ``body`` crop and (m, m) ``liver_map``, so the locator's
        passes are not repeated.
        """
        if self.locator is None:
            return prepare(ct, self.input_size)
        if body is None or body.size != self.locator.input_size:
            body, liver_map = prepare(ct, self.locator.input_size), None
        if liver_map is None:
            liver_map = self.locator.predict_maps(body.tensor)[LIVER_MAP_LAYER][0]
        return prepare_liver_view(ct, self.input_size, liver_map, body)

    def prepare_batch(self, slices: Sequence[SliceLike]) -> np.ndarray:
        """Stack :meth:`prepare` tensors into a float32 (N, size, size, 3) batch.

        A liver-view model's locator runs once on the whole batch of body crops (a volume of
        hundreds of slices would otherwise pay one locator call per slice).
        """
        size = self.input_size
        if not slices:
            return np.zeros((0, size, size, 3), np.float32)
        if self.locator is None:
            return prepare_batch(slices, size)
        bodies = [prepare(s, self.locator.input_size) for s in slices]
        livers = np.concatenate([
            self.locator.predict_maps(np.stack([b.tensor for b in bodies[i:i + LOCATOR_BATCH]]))[
                LIVER_MAP_LAYER] for i in range(0, len(bodies), LOCATOR_BATCH)])
        return np.stack([prepare_liver_view(s, size, liver, body).tensor
                         for s, liver, body in zip(slices, livers, bodies)])

    def predict_proba(self, batch: np.ndarray, batch_size: int = 64) -> np.ndarray:
        """p(tumour) (N,) for float32 (N, S, S, 3) 0..255 tensors from ``prepare``.

        A compiled ``tf.function`` call: ``model.predict`` adds 100-170 ms per call (STACK-FACTS).
        """
        batch = np.asarray(batch, np.float32)
        if batch.ndim == 3:
            batch = batch[None]
        out = [self._predict(tf.constant(batch[i:i + batch_size])).numpy()
               for i in range(0, len(batch), batch_size)]
        return np.concatenate(out) if out else np.zeros((0,), np.float32)


#: Map layers a model may expose, liver first (see :meth:`LoadedModel.predict_maps`).
MAP_LAYERS = ("seg_liver_logits", "seg_tumour_logits", "tumour_logit_map")
LIVER_MAP_LAYER = MAP_LAYERS[0]
TUMOUR_MAP_LAYER = MAP_LAYERS[1]
#: Body crops per locator call in :meth:`LoadedModel.prepare_batch` (bounded activation memory).
LOCATOR_BATCH = 32
TUMOUR_MAP_LAYERS = {"seg_tumour_logits", "tumour_logit_map"}
#: Keys of the compiled map call's result besides the maps (no layer is named so).
P_KEY, COPIES_KEY = "p_tumour", "flipped_copies"


def _has_layer(model: keras.Model, name: str) -> bool:
    return any(layer.name == name for layer in model.layers)


def read_card(model_dir: Path) -> ModelCard:
    """The card of the model in ``model_dir``."""
    path = Path(model_dir) / CARD_FILE
    if not path.is_file():
        raise ModelNotFound(f"No model card in {Path(model_dir).name}.")
    return ModelCard.from_dict(json.loads(path.read_text()))


def write_card(model_dir: Path, card: ModelCard) -> None:
    """Write ``card.json`` and re-render ``MODEL_CARD.md`` from it."""
    model_dir = Path(model_dir)
    (model_dir / CARD_FILE).write_text(json.dumps(card.to_dict(), indent=2) + "\n")
    (model_dir / MARKDOWN_FILE).write_text(render_markdown(card))


def list_shipped_models(models_dir: Path = DEFAULT_MODELS_DIR) -> list[ModelCard]:
    """Cards of every model folder that has both a card and a weight file, sorted by id."""
    models_dir = Path(models_dir)
    if not models_dir.is_dir():
        return []
    return [read_card(d) for d in sorted(models_dir.iterdir())
            if (d / CARD_FILE).is_file() and (d / WEIGHTS_FILE).is_file()]


def load_model(model_id: str, models_dir: Path = DEFAULT_MODELS_DIR,
               load_locator: Callable[[str], LoadedModel] | None = None) -> LoadedModel:
    """Rebuild ``model_id`` from the registry and load its weights.

    A liver-view model's locator is loaded with ``load_locator`` (the app passes its cached
    loader, so the locator is one shared model), by default with this function.
    """
    model_dir = Path(models_dir) / model_id
    weights = model_dir / WEIGHTS_FILE
    if not weights.is_file():
        known = ", ".join(c.model_id for c in list_shipped_models(models_dir)) or "none"
        raise ModelNotFound(f"Model '{model_id}' is not shipped (available: {known}).")
    card = read_card(model_dir)
    if card.preprocessing_version != PREPROCESSING_VERSION:
        raise ModelNotFound(
            f"Model '{model_id}' was trained on slices prepared by preprocessing version "
            f"{card.preprocessing_version}, but this LiverLens prepares them with version "
            f"{PREPROCESSING_VERSION}; its predictions would not be trustworthy. Retrain it "
            f"with `python -m liver_model train`.")
    locator = None
    if card.view == "liver":
        if not card.locator:
            raise ModelNotFound(f"Model '{model_id}' looks at the liver view but its card names "
                                "no locator model to find the liver.")
        load = load_locator or (lambda name: load_model(name, models_dir))
        locator = load(card.locator)
        if not _has_layer(locator.keras_model, LIVER_MAP_LAYER):
            raise ModelNotFound(f"Locator '{card.locator}' of '{model_id}' predicts no liver map.")
    elif card.view != "body":
        raise ModelNotFound(f"Model '{model_id}' has an unknown input view '{card.view}'.")
    model = get_architecture(card.architecture).build(card.input_size)
    model.load_weights(weights)
    return LoadedModel(model_id=model_id, keras_model=model, card=card, locator=locator)


def save_weights(model: keras.Model, path: Path, *, dtype: str = "float32") -> None:
    """Save ``model``'s weights; ``dtype="float16"`` halves the file (weights are cast on load).

    Why float16 is offered: the shipped models must fit in 150 MB together and ResNet50V2 alone
    is 94 MB in float32. Prediction still runs in float32; only storage is rounded.
    """
    path = Path(path)
    # A fresh functional view over the same layers has no optimizer, so its state (twice the
    # model's size for AdamW) stays out of the shipped file.
    keras.Model(model.inputs, model.outputs, name=model.name).save_weights(path)
    if dtype == "float32":
        return
    if dtype != "float16":
        raise ValueError(f"unsupported weight storage dtype {dtype}")
    half = path.with_suffix(".half.h5")
    with h5py.File(path, "r") as source, h5py.File(half, "w") as target:
        def _copy(name: str, obj: Any) -> None:
            if isinstance(obj, h5py.Dataset):
                data = obj[()]
                if isinstance(data, np.ndarray) and data.dtype == np.float32:
                    data = data.astype(np.float16)
                target.create_dataset(name, data=data)
            else:
                target.require_group(name)
            for key, value in obj.attrs.items():
                target[name].attrs[key] = value
        for key, value in source.attrs.items():
            target.attrs[key] = value
        source.visititems(_copy)
    half.replace(path)
