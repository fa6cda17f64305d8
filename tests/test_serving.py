"""Serving a room (issue 12): warm start, sessions in parallel on shared models, Home's progress.

Real models and real slices: the shipped models in ``assets/models`` and LiTS slices from the
shared datasets, through the functions the app calls (``dashboard.caching``). The parallel test
runs eight "sessions" (threads, as Streamlit runs one script thread per session) at once, each on
a different slice, and compares every result with the same slice computed alone.
"""
from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import keras
import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from dashboard import caching, warmup
from dashboard.uploads import sha256
from liver_model.explain import adapter as adapter_module
from liver_model.io import load_slices
from liver_model.manifest import read_manifest
from liver_model.slices import CTSlice
from liver_model.zoo import list_shipped_models

REPO = Path(__file__).resolve().parent.parent
SESSIONS = 8
WARMUP_TIMEOUT_S = 300.0


def run_in_threads(jobs: list[Callable[[], Any]]) -> list[Any]:
    """Run the jobs at the same moment (a barrier), one thread each; re-raise the first error."""
    barrier = threading.Barrier(len(jobs))
    results: list[Any] = [None] * len(jobs)
    errors: list[BaseException] = []

    def worker(i: int) -> None:
        barrier.wait()
        try:
            results[i] = jobs[i]()
        except BaseException as err:  # noqa: BLE001 - re-raised in the test's thread
            errors.append(err)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(len(jobs))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(WARMUP_TIMEOUT_S)
    if errors:
        raise errors[0]
    return results


@pytest.fixture(scope="module")
def cam_models() -> list[str]:
    """Shipped models that have a Grad-CAM (all of them today)."""
    ids = [c.model_id for c in list_shipped_models() if c.cam_layer]
    if not ids:
        pytest.fail("No shipped model with a Grad-CAM layer in assets/models/.", pytrace=False)
    return ids


@pytest.fixture(scope="module")
def slices(lits_manifest: Path) -> list[tuple[str, CTSlice]]:
    """(file SHA-256, slice) of 8 liver slices from 8 different patients, read as uploads are."""
    frame = read_manifest(lits_manifest)
    liver = frame[frame["has_liver"].astype(str).str.lower().isin(["true", "1"])].sort_values("path")
    rows = liver.groupby("patient_id").nth(3).head(SESSIONS)
    out = []
    for path in rows["path"]:
        data = Path(path).read_bytes()
        out.append((sha256(data), load_slices(data, Path(path).name)[0]))
    assert len(out) == SESSIONS
    return out


def session_results(model_ids: list[str], file_sha: str, ct: CTSlice) -> dict[str, tuple[float, np.ndarray]]:
    """What one session computes on upload: every model's p(tumour) and Grad-CAM, as the app does."""
    out = {}
    for model_id in model_ids:
        p = caching.slice_probability(model_id, file_sha, 0, ct)
        exp = caching.explanation(model_id, file_sha, 0, "gradcam", caching.params_key({}), "tumour", ct)
        out[model_id] = (p, exp.heatmap)
    return out


def clear_result_caches() -> None:
    """Forget predictions and explanations, so the next calls compute instead of reading the cache."""
    caching.slice_prediction.clear()
    caching._explanation_entry.clear()


def test_parallel_sessions_each_get_their_own_slices_results(cam_models: list[str],
                                                            slices: list[tuple[str, CTSlice]]) -> None:
    for model_id in cam_models:  # loaded before timing-free comparison; built-once is tested below
        caching.get_model(model_id)
    clear_result_caches()
    alone = [session_results(cam_models, sha, ct) for sha, ct in slices]
    clear_result_caches()
    together = run_in_threads([lambda sha=sha, ct=ct: session_results(cam_models, sha, ct) for sha, ct in slices])
    again = run_in_threads([lambda sha=sha, ct=ct: session_results(cam_models, sha, ct) for sha, ct in slices])

    for model_id in cam_models:
        probs = [alone[i][model_id][0] for i in range(SESSIONS)]
        maps = [alone[i][model_id][1] for i in range(SESSIONS)]
        # Different slices give clearly different results, so a swap between sessions would show
        # (a blank Grad-CAM can repeat, its p(tumour) does not).
        for i in range(SESSIONS):
            for j in range(i + 1, SESSIONS):
                assert abs(probs[i] - probs[j]) > 1e-3 or np.abs(maps[i] - maps[j]).max() > 0.05, (model_id, i, j)
        for i in range(SESSIONS):
            for run in (together, again):
                p, heatmap = run[i][model_id]
                assert p == pytest.approx(alone[i][model_id][0], abs=1e-5), (model_id, i)
                assert heatmap.shape == maps[i].shape
                np.testing.assert_allclose(heatmap, maps[i], atol=1e-4, err_msg=f"{model_id} slice {i}")


def test_the_adapter_of_a_model_is_built_once_when_threads_ask_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    inputs = keras.Input((32, 32, 3))
    features = keras.layers.Conv2D(4, 3, activation="relu")(inputs)
    outputs = keras.layers.Dense(1, activation="sigmoid")(keras.layers.GlobalAveragePooling2D()(features))
    model = keras.Model(inputs, outputs)
    builds: list[int] = []
    real_build = adapter_module._build

    def slow_build(*args: Any) -> Any:
        builds.append(threading.get_ident())
        time.sleep(0.3)  # wide window: without the lock every thread would build its own
        return real_build(*args)

    monkeypatch.setattr(adapter_module, "_build", slow_build)
    adapters = run_in_threads([lambda: adapter_module.adapter_for(model)] * 4)
    assert len(builds) == 1
    assert all(a is adapters[0] for a in adapters)


@pytest.fixture()
def counted_loads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every model load (``liver_model.zoo.load_model``) from now on, slowed down so that the
    threads asking for a model overlap; the model cache starts empty."""
    import liver_model.zoo as zoo

    loads: list[str] = []
    real_load = zoo.load_model

    def slow_load(model_id: str, *args: Any, **kwargs: Any) -> Any:
        loads.append(model_id)
        time.sleep(0.5)
        return real_load(model_id, *args, **kwargs)

    monkeypatch.setattr(zoo, "load_model", slow_load)
    caching.get_model.clear()
    return loads


def test_warmup_and_sessions_share_each_model_built_once(counted_loads: list[str]) -> None:
    """A session asking during the warm-up (for the model being built and for one not reached
    yet) gets the warm-up's objects; every model is loaded once, and traced when ready."""
    ids = [c.model_id for c in caching.shipped_cards()]
    run = warmup.Warmup()
    run.start()
    while not counted_loads:  # the warm-up is building the first model...
        time.sleep(0.01)
    during = run_in_threads([lambda: caching.get_model(ids[0]), lambda: caching.get_model(ids[-1])])
    seen = [run.progress()]
    while seen[-1].state == "warming":
        time.sleep(0.05)
        seen.append(run.progress())
    final = run.wait(WARMUP_TIMEOUT_S)

    assert final.state == "ready", final.errors
    assert final.done == final.total == len(ids) and final.fraction == 1.0 and final.http_status == 200
    assert [s.done for s in seen] == sorted(s.done for s in seen)
    assert sorted(counted_loads) == sorted(ids)  # once each, though sessions asked meanwhile
    after = run_in_threads([lambda m=m: caching.get_model(m) for m in ids])
    assert sorted(counted_loads) == sorted(ids)
    assert during[0] is after[0] and during[1] is after[-1]
    from liver_model.explain.engine import model_adapter

    for loaded in after:  # traced by the warm-up, so the first upload traces nothing
        if loaded.has_maps:  # p, flipped copies and maps: the one call caching makes per slice
            assert loaded._run.experimental_get_tracing_count() == 1
        if loaded.card.test_time_flips == 1:  # a flipped model's predict_proba is that same call
            assert loaded._predict.experimental_get_tracing_count() == 1
        if loaded.card.cam_layer:
            assert model_adapter(loaded)._cam_fn.experimental_get_tracing_count() == 1


def test_warmup_reports_a_failing_model_and_goes_on(monkeypatch: pytest.MonkeyPatch) -> None:
    ids = [c.model_id for c in caching.shipped_cards()]

    def broken(loaded: Any, report: Any = None) -> None:
        if loaded.model_id == ids[0]:
            raise RuntimeError("no kernel")

    monkeypatch.setattr(warmup, "warm_model", broken)
    run = warmup.Warmup()
    run.start()
    final = run.wait(WARMUP_TIMEOUT_S)
    assert final.state == "failed" and final.http_status == 500
    assert final.done == len(ids) and final.errors == (f"{ids[0]}: RuntimeError: no kernel",)
    assert final.as_dict()["errors"] == [f"{ids[0]}: RuntimeError: no kernel"]


@pytest.mark.parametrize("snapshot, shown", [
    (warmup.Progress(state="warming", done=1, total=4, step="vit: tracing Grad-CAM"), "1 of 4 ready (vit: tracing Grad-CAM)"),
    (warmup.Progress(state="ready", done=4, total=4, started=0.0, finished=12.0), "Models ready: all 4 loaded and traced in 12 s"),
])
def test_home_shows_the_warmup_progress_then_ready(monkeypatch: pytest.MonkeyPatch, snapshot: warmup.Progress,
                                                   shown: str) -> None:
    monkeypatch.setattr(warmup, "start", lambda: snapshot)
    monkeypatch.setattr(warmup, "progress", lambda: snapshot)
    at = AppTest.from_file(str(REPO / "streamlit_app.py"), default_timeout=60)
    at.run()
    assert not at.exception
    if snapshot.state == "warming":
        bars = [el.proto.text for el in at.get("progress")]
        assert any(shown in text for text in bars), bars
        assert at.get("progress")[0].proto.value == 25
    else:
        assert any(shown in s.value for s in at.success)
        assert not at.get("progress")


def test_warmup_switch_and_ready_statuses(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(warmup.ENV_SWITCH, "0")
    assert warmup.start().state == "off" and warmup.start().http_status == 200
    assert warmup.Progress(state="warming").http_status == 503
    assert warmup.Progress(state="idle").http_status == 503
