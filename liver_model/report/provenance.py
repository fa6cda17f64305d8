"""Where a report's numbers come from: software version, weight hashes, expected performance.

Why: a report read weeks later must say which code and which weights produced it (a retrained
model with the same id gives other numbers), and what each model's call is worth at its
threshold, with the source of that estimate named.
"""
from __future__ import annotations

import hashlib
import subprocess
from datetime import datetime, timezone
from functools import lru_cache
from pathlib import Path
from typing import Any

from liver_model.paths import REPO_ROOT


def software_version() -> str:
    """``git describe --always --dirty`` of this checkout, or a note that it is not one."""
    try:
        out = subprocess.run(["git", "describe", "--always", "--dirty", "--abbrev=12"],
                             cwd=REPO_ROOT, capture_output=True, text=True, timeout=5, check=True)
    except (OSError, subprocess.SubprocessError):
        return "LiverLens (git commit unknown: not run from a git checkout)"
    return f"LiverLens git {out.stdout.strip()}"


def report_date() -> str:
    """Date and time of the report, UTC, to the second."""
    return datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def weights_sha256(path: Path) -> str:
    """SHA-256 of a weight file, cached per path, size and modification time."""
    stat = Path(path).stat()
    return _sha256(str(path), stat.st_size, stat.st_mtime_ns)


@lru_cache(maxsize=64)
def _sha256(path: str, size: int, mtime_ns: int) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def expected_performance(card: Any, raw: dict[str, Any] | None = None
                         ) -> tuple[float | None, float | None, str]:
    """(sensitivity, specificity, source) of a model at its card's threshold.

    Preference: cross-validated estimates when the card has them (newer cards), else the held-out
    test patients, else the validation patients. Validation comes last because the threshold was
    chosen on those patients (sensitivity >= 0.90 by construction), so it flatters the model.
    ``raw`` is the card's JSON: a ``cross_validation`` block is read from it even while
    :class:`~liver_model.zoo.ModelCard` (which drops keys it does not know) has no such field.
    """
    cross = getattr(card, "cross_validation", None) or (raw or {}).get("cross_validation")
    if isinstance(cross, dict):
        for block in (cross, cross.get("at_threshold"), cross.get("mean"), cross.get("metrics")):
            found = _pair(block)
            if found:
                return (*found, "cross-validation")
    for attr, name in (("test_metrics", "test patients"), ("validation_metrics", "validation patients")):
        found = _pair(getattr(card, attr, None))
        if found:
            return (*found, name)
    return None, None, "not available"


def _pair(block: Any) -> tuple[float, float] | None:
    """(sensitivity, specificity) from a metrics dict, if both are numbers."""
    if not isinstance(block, dict):
        return None
    sens, spec = block.get("sensitivity"), block.get("specificity")
    if isinstance(sens, (int, float)) and isinstance(spec, (int, float)):
        return float(sens), float(spec)
    return None
