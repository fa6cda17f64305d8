"""Streamlit caches around ``liver_model``: what is loaded once, and what is keyed by what.

* Models load once per server process (``st.cache_resource``): they are large, read-only and
  shared by all sessions. Explainers never mutate them (``liver_model.explain`` builds its own
  sub-models), so sharing is safe.
* Parsed uploads are ``st.cache_resource`` too: a NIfTI volume is hundreds of MB of arrays, and
  ``cache_data`` would pickle a copy on every read.
* Predictions and explanations are ``st.cache_data`` keyed by strings only: model id, the
  SHA-256 of the uploaded file, the slice's position in that file, the method and its
  parameters. The slice itself is passed as an underscore argument, which Streamlit does not
  hash, because ``cache_data`` hashes arrays over 500,000 elements by sampling and two slices of
  one volume could then share an entry.
* Every cache is bounded (``max_entries``, parsed uploads also ``ttl``), so a server's memory
  levels off however many slices are uploaded. Explanations are cached compact (the small
  model-resolution map; the full-slice map is rebuilt on read), and ``server.maxCacheDataSize``
  in ``.streamlit/config.toml`` caps all ``cache_data`` entries together in bytes.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import streamlit as st

from liver_model.slices import CTSlice

#: Slices predicted per model call on the Volume page: large enough to amortise the call, small
#: enough that a 512-slice volume does not allocate one huge batch on a 2-core, shared machine.
BATCH_SIZE = 32

#: Methods whose fast preset costs at least this many Grad-CAMs get a progress bar.
PROGRESS_MIN_COST = 5.0
#: Smallest progress change sent to the browser.
PROGRESS_STEP = 0.05

#: Models kept loaded: more than are shipped, so none is ever evicted and rebuilt in a script
#: thread (see :func:`get_model`); the bound is there so that no cache is unbounded.
MAX_MODELS = 16
#: Compact explanations kept (each about 64 KB at 128 px): 128 uploads x 4 models of Grad-CAM.
EXPLANATION_ENTRIES = 512


@st.cache_resource(max_entries=1, show_spinner=False)
def shipped_cards() -> tuple[Any, ...]:
    """Cards of the models in ``assets/models`` (read once; the folder changes only on deploy)."""
    from liver_model.zoo import list_shipped_models

    return tuple(list_shipped_models())


@st.cache_resource(max_entries=1, show_spinner=False)
def shipped_ensembles() -> tuple[Any, ...]:
    """Cards in ``assets/ensembles`` whose members are all shipped (an ensemble missing a member
    is not offered: its calibration and threshold were measured with every member)."""
    from liver_model.ensemble import list_shipped_ensembles

    return tuple(list_shipped_ensembles([c.model_id for c in shipped_cards()]))


def ensemble_probability(card: Any, member_probabilities: Mapping[str, Any]) -> Any:
    """An ensemble's p(tumour) from its members' (cached) p(tumour): no forward pass of its own.

    Floats for one slice, arrays (or DataFrame columns) for a volume, slice by slice.

    Each member's calibration is inverted to its uncalibrated score
    (:meth:`liver_model.zoo.LoadedModel.uncalibrated_score`), the rule the ensemble was
    cross-validated with.
    """
    from liver_model.ensemble import probability_from_members

    return probability_from_members(card, member_probabilities, {m: get_model(m) for m in card.members})


@st.cache_resource(max_entries=MAX_MODELS, show_spinner="Loading model weights (once per server process)...")
def get_model(model_id: str) -> Any:
    """The :class:`liver_model.zoo.LoadedModel` of ``model_id``, shared by every session.

    The explainers' sub-models (logit head, CAM-layer model) are built here, right after the
    model, in the same thread. Keras uniquifies auto-generated op names with a *thread-local*
    counter and Streamlit runs every rerun in a new thread: built in a later run, those
    sub-models got names the model already used ("The name 'multiply_2' is used 2 times"),
    which broke Grad-CAM after the first page switch.
    """
    from liver_model.explain.engine import model_adapter
    from liver_model.zoo import load_model

    loaded = load_model(model_id, load_locator=get_model)  # a liver view's locator is shared
    model_adapter(loaded)
    return loaded


@st.cache_resource(max_entries=64, ttl=3600, show_spinner="Reading the upload...")
def parsed_slices(file_sha: str, file_name: str, _data: bytes) -> tuple[CTSlice, ...]:
    """Slices of one uploaded file, keyed by its hash and name (the name picks the reader)."""
    from liver_model.io import load_slices

    return tuple(load_slices(_data, file_name))


@st.cache_resource(max_entries=128, show_spinner=False)
def prepared_slice(file_sha: str, index_in_file: int, size: int, _ct: CTSlice) -> Any:
    """The slice as models of input ``size`` see it (:func:`liver_model.preprocessing.prepare`).

    Shared by every model's prediction and explanation of one uploaded slice, so the body crop
    and resize run once per slice and input size instead of once per model and method. 128
    entries: the last 40-60 slices at the shipped models' two or three input sizes.
    """
    from liver_model.preprocessing import prepare

    return prepare(_ct, size)


@st.cache_resource(max_entries=128, show_spinner=False)
def model_input(model_id: str, file_sha: str, index_in_file: int, _ct: CTSlice) -> Any:
    """The slice as ``model_id`` sees it (:meth:`liver_model.zoo.LoadedModel.prepare`).

    Body-view models share :func:`prepared_slice` by input size. A liver-view model's box comes
    from its locator's liver map on the locator's (shared) body crop, taken from the locator's
    own cached :func:`slice_prediction`: the locator is a shipped model whose call Diagnose
    shows anyway, so its flipped passes run once per slice, not twice.
    """
    loaded = get_model(model_id)
    if loaded.locator is None:
        return prepared_slice(file_sha, index_in_file, loaded.input_size, _ct)
    from liver_model.zoo import LIVER_MAP_LAYER

    locator_id = loaded.locator.model_id
    body = model_input(locator_id, file_sha, index_in_file, _ct)
    liver = slice_prediction(locator_id, file_sha, index_in_file, _ct).maps[LIVER_MAP_LAYER][0]
    return loaded.prepare(_ct, body=body, liver_map=liver)


@st.cache_data(max_entries=1024, show_spinner=False)
def slice_prediction(model_id: str, file_sha: str, index_in_file: int, _ct: CTSlice) -> Any:
    """The :class:`liver_model.zoo.Prediction` of one slice by one model: its p, each flipped
    copy's p and its maps, from one set of forward passes. Maps are at the model's grid (two
    96 x 96 floats, 74 KB), so 1024 entries stay under 80 MB."""
    loaded = get_model(model_id)
    return loaded.predict(model_input(model_id, file_sha, index_in_file, _ct).tensor[None])


def slice_probability(model_id: str, file_sha: str, index_in_file: int, _ct: CTSlice) -> float:
    """p(tumour) of one slice by one model."""
    return float(slice_prediction(model_id, file_sha, index_in_file, _ct).p[0])


def flip_probabilities(model_id: str, file_sha: str, index_in_file: int, _ct: CTSlice) -> tuple[float, ...]:
    """p(tumour) of each flipped copy of one slice alone (:mod:`liver_model.flip_agreement`);
    empty for a model that predicts from one pass."""
    copies = slice_prediction(model_id, file_sha, index_in_file, _ct).copies[0]
    return tuple(float(p) for p in copies) if len(copies) > 1 else ()


@st.cache_resource(max_entries=16, show_spinner=False)
def flip_agreement(model_id: str) -> Any:
    """What the spread of ``model_id``'s flipped copies meant out of fold (None if not measured)."""
    from liver_model.flip_agreement import read_out_of_fold

    return read_out_of_fold(model_id)


@st.cache_data(max_entries=256, show_spinner=False)
def stack_predictions(model_id: str, bundle_key: str, _slices: Sequence[CTSlice]) -> tuple[np.ndarray, np.ndarray]:
    """(p(tumour) (N,), each flipped copy's p (N, copies)) of every slice of a volume or series
    (in bundle order) by one model, batched; the maps are dropped (hundreds of slices)."""
    loaded = get_model(model_id)
    p, copies = [], []
    for i in range(0, len(_slices), BATCH_SIZE):
        found = loaded.predict(loaded.prepare_batch(list(_slices[i:i + BATCH_SIZE])))
        p.append(found.p)
        copies.append(found.copies)
    if not p:
        return np.zeros(0), np.zeros((0, 1))
    return np.concatenate(p), np.concatenate(copies)


def stack_probabilities(model_id: str, bundle_key: str, _slices: Sequence[CTSlice]) -> np.ndarray:
    """p(tumour) of every slice of a volume or series (in bundle order) by one model."""
    return stack_predictions(model_id, bundle_key, _slices)[0]


@st.cache_data(max_entries=64, show_spinner=False)
def segmentation_maps(model_id: str, file_sha: str, index_in_file: int, _ct: CTSlice) -> Any:
    """The model's own liver / tumour maps of one slice (``SegmentationMaps``), None if it has none.

    Keyed like the predictions; few entries because each holds two full-slice float maps.
    """
    from liver_model.segmentation import maps_from_prediction

    return maps_from_prediction(get_model(model_id), model_input(model_id, file_sha, index_in_file, _ct),
                                slice_prediction(model_id, file_sha, index_in_file, _ct))


def params_key(params: dict[str, Any]) -> tuple[tuple[str, Any], ...]:
    """A hashable, order-independent form of a method's parameters for the cache key."""
    return tuple(sorted(params.items()))


def explanation(model_id: str, file_sha: str, index_in_file: int, method: str,
                params: tuple[tuple[str, Any], ...], target: str, _ct: CTSlice) -> Any:
    """The :class:`liver_model.explain.Explanation` of one (model, slice, method, parameters).

    The cache keeps the compact entry of :func:`_explanation_entry`; the full-slice heatmap is
    rebuilt here on every read (a resize of a 128 px map, about a millisecond).
    """
    from liver_model.explain.engine import slice_heatmap

    entry = _explanation_entry(model_id, file_sha, index_in_file, method, params, target, _ct)
    prepared = model_input(model_id, file_sha, index_in_file, _ct)
    return dataclasses.replace(entry, heatmap=slice_heatmap(prepared, entry.model_input_heatmap))


@st.cache_data(max_entries=EXPLANATION_ENTRIES, show_spinner=False)
def _explanation_entry(model_id: str, file_sha: str, index_in_file: int, method: str,
                       params: tuple[tuple[str, Any], ...], target: str, _ct: CTSlice) -> Any:
    """The explanation without its full-slice heatmap (an empty array in its place).

    Why compact: ``cache_data`` pickles every entry, and a full-slice float map is 1 MB for a
    512 x 512 slice, 16 times the model-resolution map it is resized from; 512 full entries were
    half a gigabyte of server memory.

    Slow methods draw a progress bar *inside* the cached function: Streamlit records it and
    replays it (ending empty) on a cache hit, whereas a bar created outside would be an element
    the replay cannot find (``CacheReplayClosureError``).
    """
    from liver_model.explain import METHODS, explain

    loaded = get_model(model_id)
    prepared = model_input(model_id, file_sha, index_in_file, _ct)
    known = {"target": target, "p_tumour": slice_probability(model_id, file_sha, index_in_file, _ct)}
    spec = METHODS[method]
    if spec.relative_cost < PROGRESS_MIN_COST:
        return _compact(explain(loaded, prepared, method, **known, **dict(params)))
    bar = st.progress(0.0, text=f"{spec.label} on {model_id}...")
    shown = [0.0]

    def report(done: float) -> None:
        # Every update is recorded for replay on a cache hit, so send 5 % steps only.
        done = min(max(float(done), 0.0), 1.0)
        if done - shown[0] >= PROGRESS_STEP or done == 1.0:
            shown[0] = done
            bar.progress(done, text=f"{spec.label} on {model_id}: {done:.0%}")

    try:
        return _compact(explain(loaded, prepared, method, progress=report, **known, **dict(params)))
    finally:
        bar.empty()


def _compact(exp: Any) -> Any:
    """``exp`` without its full-slice heatmap, which :func:`explanation` rebuilds on read."""
    return dataclasses.replace(exp, heatmap=np.zeros((0, 0), np.float32))
