"""``python -m liver_model benchmark``: size and CPU speed of every shipped model.

Prints per model: weight-file size, parameters, warm single-slice latency (median of repeated
compiled calls, after warm-up) and batch-32 throughput. Calls go through
``LoadedModel.predict_proba`` (a compiled ``tf.function``), the same path the app uses; numbers
depend on the machine and on what else runs on it, so the header states the hardware.
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from liver_model.zoo import DEFAULT_MODELS_DIR


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--models", nargs="*", default=None, help="model ids (default: all shipped)")
    parser.add_argument("--models-dir", type=Path, default=DEFAULT_MODELS_DIR)
    parser.add_argument("--repeats", type=int, default=20, help="timed single-slice calls")
    parser.add_argument("--batches", type=int, default=3, help="timed batch-32 calls")


def _median_seconds(call, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def run(args: argparse.Namespace) -> int:
    import os
    import platform

    import tensorflow as tf

    from liver_model.zoo import WEIGHTS_FILE, list_shipped_models, load_model

    ids = args.models or [c.model_id for c in list_shipped_models(args.models_dir)]
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    print(f"# {cores}-core CPU ({platform.machine()}), TensorFlow {tf.__version__}, "
          f"{tf.config.threading.get_intra_op_parallelism_threads() or 'default'} intra-op threads")
    print(f"{'model':30s} {'file MB':>8s} {'params':>11s} {'dtype':>8s} {'prepare ms':>11s} "
          f"{'1-slice ms':>11s} {'batch-32 slices/s':>18s}")
    rng = np.random.default_rng(0)
    # A 512 px slice for prepare(): a liver-view model's preparation runs its locator model.
    slice_rgb = rng.integers(0, 256, (512, 512, 3), dtype=np.uint8)
    for model_id in ids:
        loaded = load_model(model_id, args.models_dir)
        size = loaded.input_size
        single = rng.uniform(0, 255, (1, size, size, 3)).astype(np.float32)
        batch = rng.uniform(0, 255, (32, size, size, 3)).astype(np.float32)
        for _ in range(3):
            loaded.predict_proba(single)
            loaded.predict_proba(batch)
        loaded.prepare(slice_rgb)
        preparing = _median_seconds(lambda: loaded.prepare(slice_rgb), args.repeats)
        latency = _median_seconds(lambda: loaded.predict_proba(single), args.repeats)
        batch_time = _median_seconds(lambda: loaded.predict_proba(batch), args.batches)
        size_mb = (args.models_dir / model_id / WEIGHTS_FILE).stat().st_size / 1e6
        print(f"{model_id:30s} {size_mb:8.1f} {loaded.card.params:11,d} "
              f"{loaded.card.weights_dtype:>8s} {preparing * 1e3:11.1f} {latency * 1e3:11.1f} "
              f"{32 / batch_time:18.1f}")
    return 0
