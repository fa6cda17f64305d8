"""Warm start: load and trace every shipped model when the server starts, not on the first upload.

Why: on a fresh server the first upload used to wait ~43 s while five models loaded their weights
and TensorFlow traced their prediction and Grad-CAM functions; every later upload took under a
second. A background thread now does that work once per process, as soon as the server starts
(``serve.py``'s lifespan) or, under plain ``streamlit run streamlit_app.py``, when the entry script
first runs. It goes through :func:`dashboard.caching.get_model`, the ``st.cache_resource`` every
session uses, so sessions get the very objects it traced. Streamlit holds a per-key compute lock
around a ``cache_resource`` build: a session that asks for a model the thread is still building
waits for that build instead of starting a second one, so a user who uploads during warm-up waits
only for what is left.

Progress (models done / total, the current step, errors) lives in one immutable
:class:`Progress` swapped under a lock, read by the Home page (:mod:`dashboard.warmup_view`) and by
``serve.py``'s ``/ready`` route. ``LIVERLENS_WARMUP=0`` turns the automatic start off (the test
suite does, so that warm-up threads do not race the tests' call counts).
"""
from __future__ import annotations

import atexit
import ctypes
import dataclasses
import logging
import os
import threading
import time
from typing import Any

import numpy as np

LOGGER = logging.getLogger(__name__)

ENV_SWITCH = "LIVERLENS_WARMUP"
"""Set to ``0`` to keep :func:`start` from starting anything (state stays ``off``)."""
MALLOC_ARENAS = 2
"""glibc malloc arenas. glibc allows up to 8 per core and hands a new one to a thread that meets
contention; Streamlit runs every script run in a new thread, and memory freed into one arena is
not reused by threads on another, so the server's RSS creeps up with uploads. Two bound that
(the same as ``MALLOC_ARENA_MAX=2``, set here because ``streamlit run`` cannot set it)."""
_M_ARENA_MAX = -8  # mallopt parameter number in glibc's malloc.h
THREAD_NAME = "liverlens-warmup"


class _NoContextWarningFromWarmup(logging.Filter):
    """Drop Streamlit's "missing ScriptRunContext" warning for the warm-up thread only.

    ``get_model``'s spinner looks for a script run, which a server-start thread does not have;
    the warning would otherwise be logged once per model on every start.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        return record.threadName != THREAD_NAME


logging.getLogger("streamlit.runtime.scriptrunner_utils.script_run_context").addFilter(
    _NoContextWarningFromWarmup())


@dataclasses.dataclass(frozen=True)
class Progress:
    """A snapshot of the warm-up: safe to read from any thread, never mutated."""

    state: str = "idle"
    """``off`` (disabled), ``idle`` (not started), ``warming``, ``ready`` or ``failed``."""
    done: int = 0
    total: int = 0
    step: str = ""
    """What the thread is doing now, e.g. "vit: tracing Grad-CAM"."""
    errors: tuple[str, ...] = ()
    started: float | None = None
    finished: float | None = None

    @property
    def fraction(self) -> float:
        """Share of the models done (1.0 when finished, whatever happened)."""
        if self.state in ("ready", "failed"):
            return 1.0
        return self.done / self.total if self.total else 0.0

    @property
    def elapsed_s(self) -> float | None:
        """Seconds from the start to the end of the warm-up (or to now while it runs)."""
        if self.started is None:
            return None
        return (self.finished or time.monotonic()) - self.started

    @property
    def http_status(self) -> int:
        """``/ready``'s answer: 200 ready (or warm-up switched off), 500 failed, 503 not yet."""
        return {"ready": 200, "off": 200, "failed": 500}.get(self.state, 503)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form for the ``/ready`` route."""
        elapsed = self.elapsed_s
        return {"state": self.state, "models_done": self.done, "models_total": self.total,
                "step": self.step, "errors": list(self.errors),
                "elapsed_s": None if elapsed is None else round(elapsed, 2)}


class Warmup:
    """One warm-up run: its thread and its :class:`Progress` (the app uses :data:`WARMUP`)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._progress = Progress()
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()

    def progress(self) -> Progress:
        """The latest snapshot."""
        with self._lock:
            return self._progress

    def _update(self, **changes: Any) -> None:
        with self._lock:
            self._progress = dataclasses.replace(self._progress, **changes)

    def start(self) -> Progress:
        """Start the thread unless it was started already (idempotent, thread-safe)."""
        with self._lock:
            if self._thread is None:
                self._progress = Progress(state="warming", started=time.monotonic())
                self._thread = threading.Thread(target=self._run, name=THREAD_NAME, daemon=True)
                self._thread.start()
                atexit.register(self.stop)
            return self._progress

    def wait(self, timeout: float | None = None) -> Progress:
        """Block until the warm-up has ended (or ``timeout``); returns the snapshot."""
        thread = self._thread
        if thread is not None:
            thread.join(timeout)
        return self.progress()

    def stop(self, timeout: float = 30.0) -> None:
        """Ask the thread to stop after its current step and wait for it (interpreter exit).

        A daemon thread killed inside a TensorFlow call at interpreter shutdown can abort the
        process, so :meth:`start` registers this with ``atexit``.
        """
        self._stop.set()
        self.wait(timeout)

    def _run(self) -> None:
        """Load and trace every shipped model in order; one failure does not stop the others."""
        from dashboard import caching

        errors: list[str] = []
        try:
            cards = caching.shipped_cards()
            self._update(total=len(cards))
            for done, card in enumerate(cards, start=1):
                if self._stop.is_set():
                    return
                try:
                    self._update(step=f"{card.model_id}: loading weights")
                    loaded = caching.get_model(card.model_id)
                    warm_model(loaded, lambda step, name=card.model_id: self._update(step=f"{name}: {step}"))
                except Exception as err:  # noqa: BLE001 - reported in the progress and the log
                    LOGGER.exception("warm-up of %s failed", card.model_id)
                    errors.append(f"{card.model_id}: {type(err).__name__}: {err}")
                self._update(done=done, errors=tuple(errors))
        except Exception as err:  # noqa: BLE001 - e.g. an unreadable model card
            LOGGER.exception("warm-up failed")
            errors.append(f"{type(err).__name__}: {err}")
        self._update(state="failed" if errors else "ready", step="", errors=tuple(errors),
                     finished=time.monotonic())
        LOGGER.info("warm-up %s in %.1f s", self.progress().state, self.progress().elapsed_s or 0.0)


def dummy_slice(side: int = 512) -> Any:
    """A real-shaped CT slice (a bright ellipse on air), so the body crop and resize run as on an upload."""
    from liver_model.slices import CTSlice

    yy, xx = np.mgrid[:side, :side]
    body = ((yy - side / 2) / (0.38 * side)) ** 2 + ((xx - side / 2) / (0.45 * side)) ** 2 <= 1.0
    rgb = np.zeros((side, side, 3), np.uint8)
    rgb[body] = (110, 120, 130)
    return CTSlice(rgb=rgb, hu=None, hu_calibrated=False, source="warm-up")


def warm_model(loaded: Any, report: Any = None) -> None:
    """Trace what an upload runs first: prediction, the model's own maps, and Grad-CAM.

    Each ``tf.function`` has a fixed input signature, so one call per function traces it for every
    later batch; the calls below are the ones :mod:`dashboard.caching` makes.
    """
    from liver_model.explain import explain

    report = report or (lambda step: None)
    prepared = loaded.prepare(dummy_slice())
    report("tracing prediction")
    loaded.predict(prepared.tensor[None])  # p, flipped copies and maps in one call (caching's)
    loaded.predict_proba(prepared.tensor[None])  # explanations' own calls
    if loaded.card.cam_layer:
        report("tracing Grad-CAM")
        explain(loaded, prepared, "gradcam")


def limit_malloc_arenas(arenas: int = MALLOC_ARENAS) -> bool:
    """Cap glibc's malloc arenas for the rest of the process (see :data:`MALLOC_ARENAS`).

    ``MALLOC_ARENA_MAX`` in the environment wins (the operator chose); returns False where there is
    no glibc (macOS, musl) or the variable is set.
    """
    if os.environ.get("MALLOC_ARENA_MAX"):
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return False
    return bool(libc.mallopt(_M_ARENA_MAX, int(arenas)))


WARMUP = Warmup()
"""The app's warm-up: one per server process."""


def start() -> Progress:
    """Start the app's warm-up once per process, unless ``LIVERLENS_WARMUP=0``."""
    if os.environ.get(ENV_SWITCH, "1").strip() == "0":
        return Progress(state="off")
    limit_malloc_arenas()
    return WARMUP.start()


def progress() -> Progress:
    """The app's warm-up snapshot (``off`` when disabled and never started)."""
    snapshot = WARMUP.progress()
    if snapshot.state == "idle" and os.environ.get(ENV_SWITCH, "1").strip() == "0":
        return Progress(state="off")
    return snapshot
