"""Where the repository keeps what the code reads and writes, in one place.

Why: shipped assets (models, metrics, splits, pretrained weights) and local artifacts (caches,
training runs) are found relative to the checkout; when each module derived its own path from
``__file__`` a moved module silently pointed at the wrong folder. Import-light (no TensorFlow).
Commands still take folders as parameters; these are only the defaults.
"""
from __future__ import annotations

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
ASSETS_DIR = REPO_ROOT / "assets"
METRICS_DIR = ASSETS_DIR / "metrics"
"""Where the CV, test-split and benchmark reports are shipped."""
SPLITS_DIR = ASSETS_DIR / "splits"
ARTIFACTS_DIR = REPO_ROOT / "artifacts"
"""Local, git-ignored: caches, checkpoints and training runs."""
