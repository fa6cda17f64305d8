"""One view of a model for every explainer: logit head, target layer, compiled functions.

Why this module exists:

* **Never mutate a cached model.** Everything here builds *new* functional models that share
  the cached model's layers read-only (a sub-graph from the input to the target layer and to the
  pre-sigmoid logit). Nothing is re-compiled, re-activated or re-weighted in place.
* **Logits, not probabilities.** Every LiverLens model ends in ``Dense(1, sigmoid)``. The
  gradient of a saturated sigmoid underflows to zero in float32 (p = 0.9999 makes Grad-CAM blank),
  and Grad-CAM++ assumes an exponential of a *logit* score. So the gradient methods
  differentiate the logit ``z`` (tumour) or ``-z`` (normal), read from a copy of the final Dense
  layer without its sigmoid.
* **Binary models and tf-keras-vis.** tf-keras-vis' Score-CAM applies a softmax to the model
  output; on a single sigmoid unit that softmax is always 1, so every Score-CAM weight would be
  equal. The adapter therefore exposes a two-column model with outputs ``(-z/2, z/2)``, whose
  softmax is exactly ``(1 - p, p)``: class 0 is "normal", class 1 is "tumour".
* **Speed.** tf-keras-vis runs eagerly (0.4-1.3 s per Grad-CAM, STACK-FACTS); the compiled
  ``tf.function`` forms here are traced once per model and then cost tens of milliseconds.
  Adapters are cached per model object in a small LRU cache. The cache holds the model
  (its compiled functions close over it), so the bound keeps throw-away models, such as the
  randomised copies of the sanity check, from piling up.
* **Threads.** A server runs many sessions' scripts at once on the same cached models. The cache
  is read, built and evicted under one lock, so two threads asking for the adapter of a model
  get the same adapter, built once (two builds would each trace their own functions, and a
  second build in another thread collides with Keras' per-thread layer names). Calling the
  traced functions needs no lock: ``tf.function`` traces under its own lock and its graphs are
  safe to run concurrently.
"""
from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from liver_model.errors import ExplanationError

SIGN = {"tumour": 1.0, "normal": -1.0}
"""Score sign per target class: the tumour logit z, or -z for the log-odds of "normal"."""

CACHE_SIZE = 16
"""More than the shipped models plus a few randomised copies."""
_CACHE: "OrderedDict[tuple[int, str | None], ModelAdapter]" = OrderedDict()
_CACHE_LOCK = threading.Lock()


@dataclass
class ModelAdapter:
    """A keras model seen by the explainers. Build it with :func:`adapter_for`."""

    model: keras.Model
    input_size: int
    cam_layer: str | None
    """Name of the 4-D layer the CAM methods target; None if the model has no spatial layer."""
    binary_logit_model: keras.Model
    """Same input, outputs ``(-z/2, z/2)``: softmax gives ``(1 - p, p)``. For tf-keras-vis."""
    _feature_logit: keras.Model | None = field(repr=False, default=None)
    _predict_fn: Any = field(repr=False, default=None)
    _cam_fn: Any = field(repr=False, default=None)
    _input_grad_fn: Any = field(repr=False, default=None)

    def predict_proba(self, batch: np.ndarray) -> np.ndarray:
        """p(tumour) (N,) of a float32 (N, S, S, 3) batch, through a compiled function."""
        x = tf.convert_to_tensor(np.asarray(batch, np.float32))
        return self._predict_fn(x).numpy().astype(np.float64)

    def cam_parts(self, x: np.ndarray, target: str) -> tuple[np.ndarray, np.ndarray]:
        """Target-layer activations A and d(score)/dA for one (S, S, 3) input, both (h, w, d)."""
        if self._cam_fn is None:
            raise ExplanationError(
                "This model has no spatial layer, so a class-activation map cannot be formed; "
                "use saliency, LIME or SHAP instead.")
        feats, grads = self._cam_fn(tf.convert_to_tensor(x[None].astype(np.float32)),
                                    tf.constant(SIGN[target], tf.float32))
        return feats.numpy()[0], grads.numpy()[0]

    def input_gradients(self, batch: np.ndarray, target: str) -> np.ndarray:
        """d(score)/d(input) (N, S, S, 3) of the target-class logit for a batch."""
        return self._input_grad_fn(tf.convert_to_tensor(np.asarray(batch, np.float32)),
                                   tf.constant(SIGN[target], tf.float32)).numpy()


def adapter_for(model: keras.Model, cam_layer: str | None = None) -> ModelAdapter:
    """The cached adapter of ``model`` (built on first use; tracing happens lazily in TF).

    Keyed by ``id(model)``: safe because a cached adapter keeps its model alive, so the id
    cannot be reused by another object while the entry exists.
    """
    key = (id(model), cam_layer)
    with _CACHE_LOCK:  # held while building: see "Threads" in the module docstring
        if key in _CACHE:
            _CACHE.move_to_end(key)
            return _CACHE[key]
        adapter = _build(model, cam_layer)
        _CACHE[key] = adapter
        while len(_CACHE) > CACHE_SIZE:
            _CACHE.popitem(last=False)
        return adapter


def last_spatial_layer(model: keras.Model) -> str | None:
    """Name of the last layer whose output is (N, h, w, d) with h, w > 1 (conv map or token grid)."""
    for layer in reversed(model.layers):
        shape = _output_shape(layer)
        if shape is not None and len(shape) == 4 and (shape[1] or 0) > 1 and (shape[2] or 0) > 1:
            return layer.name
    return None


def _output_shape(layer: keras.layers.Layer) -> tuple | None:
    """Output shape of a layer in a built functional model, or None (multi-output, input)."""
    try:
        out = layer.output
    except (AttributeError, ValueError):
        return None
    return tuple(out.shape) if hasattr(out, "shape") else None


def _logit_tensor(model: keras.Model) -> keras.KerasTensor:
    """Symbolic pre-sigmoid logit z (N, 1) of a model that ends in a sigmoid unit.

    A final ``Dense(1, sigmoid)`` is replayed without its sigmoid by :class:`_DenseLogit`, which
    reads that layer's own variables (so later weight loads are seen; nothing is modified). Any
    other ending falls back to ``log(p) - log(1 - p)`` with clipping, exact except where p
    saturates.
    """
    last = model.layers[-1]
    activation = getattr(last, "activation", None)
    if isinstance(last, keras.layers.Dense) and activation is keras.activations.sigmoid:
        return _DenseLogit(last, name=f"{last.name}_logit")(last.input)
    if isinstance(last, keras.layers.Activation) and activation is keras.activations.sigmoid:
        return last.input
    p = keras.ops.clip(model.outputs[0], 1e-7, 1.0 - 1e-7)
    return keras.ops.log(p) - keras.ops.log(1.0 - p)


class _DenseLogit(keras.layers.Layer):
    """``x @ kernel + bias`` of an existing Dense layer: its pre-activation, sharing its weights."""

    def __init__(self, dense: keras.layers.Dense, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.dense = dense

    def call(self, x: keras.KerasTensor) -> keras.KerasTensor:
        z = keras.ops.matmul(x, self.dense.kernel)
        return z + self.dense.bias if self.dense.use_bias else z


def _build(model: keras.Model, cam_layer: str | None) -> ModelAdapter:
    """Sub-models and compiled functions of one model (see the module docstring)."""
    if len(model.inputs) != 1 or len(model.outputs) != 1 or model.outputs[0].shape[-1] != 1:
        raise ExplanationError("Explanations need a model with one image input and one "
                               "sigmoid p(tumour) output.")
    size = int(model.inputs[0].shape[1])
    layer_name = cam_layer or last_spatial_layer(model)
    z = _logit_tensor(model)
    pair = keras.ops.concatenate([-0.5 * z, 0.5 * z], axis=-1)
    binary = keras.Model(model.inputs, pair, name=f"{model.name}_binary_logits")
    spec = tf.TensorSpec((None, size, size, 3), tf.float32)

    @tf.function(input_signature=[spec], reduce_retracing=True)
    def predict_fn(x: tf.Tensor) -> tf.Tensor:
        return tf.reshape(model(x, training=False), (-1,))

    logit_model = keras.Model(model.inputs, z)

    @tf.function(input_signature=[spec, tf.TensorSpec((), tf.float32)])
    def input_grad_fn(x: tf.Tensor, sign: tf.Tensor) -> tf.Tensor:
        with tf.GradientTape() as tape:
            tape.watch(x)
            score = sign * tf.reduce_sum(logit_model(x, training=False))
        return tape.gradient(score, x)

    cam_fn = None
    feature_logit = None
    if layer_name is not None:
        try:
            feature_layer = model.get_layer(layer_name)
        except ValueError as err:
            raise ExplanationError(f"The model has no layer '{layer_name}' to explain.") from err
        feature_logit = keras.Model(model.inputs, [feature_layer.output, z])

        @tf.function(input_signature=[spec, tf.TensorSpec((), tf.float32)])
        def cam_fn(x: tf.Tensor, sign: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
            with tf.GradientTape() as tape:
                # Watch the input: a tape records only ops on watched tensors or variables, so
                # a weight-free path (e.g. input -> Rescaling -> CAM layer) would give no gradient.
                tape.watch(x)
                feats, logit = feature_logit(x, training=False)
                score = sign * tf.reduce_sum(logit)
            return feats, tape.gradient(score, feats)

    return ModelAdapter(model=model, input_size=size, cam_layer=layer_name,
                        binary_logit_model=binary, _feature_logit=feature_logit,
                        _predict_fn=predict_fn, _cam_fn=cam_fn, _input_grad_fn=input_grad_fn)
