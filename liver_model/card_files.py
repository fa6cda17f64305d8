"""What every shipped card shares: JSON that tolerates unknown keys, and the CV report it names.

Why one module: model cards (:class:`liver_model.zoo.ModelCard`) and ensemble cards
(:class:`liver_model.ensemble.EnsembleCard`) are read by the app, the CLI and the case report, and
cards written by older versions must keep loading. Each reader had its own copy of these rules;
one copy keeps them from drifting (a card that loads in the CLI but not on Performance).
Import-light: no TensorFlow, so the dashboard can use it before any model is loaded.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from liver_model.paths import METRICS_DIR, REPO_ROOT



class CardRecord:
    """Mixin for card dataclasses: ``from_dict`` / ``to_dict`` of their JSON content."""

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Any:
        """Build from JSON content, ignoring keys this version does not know (newer cards load)."""
        known = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
        return cls(**{k: v for k, v in data.items() if k in known})

    def to_dict(self) -> dict[str, Any]:
        """The card as JSON-ready content."""
        return dataclasses.asdict(self)  # type: ignore[call-overload]


def cv_report_path(card: Any, metrics_dir: Path = METRICS_DIR) -> Path | None:
    """Where the card's CV report lies; None when the card names none or the file is missing.

    The card's ``cross_validation.report`` is a path from the repository root; older cards
    stored the bare file name, which is looked up in ``metrics_dir``.
    """
    cv = getattr(card, "cross_validation", None)
    if not cv or not cv.get("report"):
        return None
    path = Path(cv["report"])
    for candidate in (path, REPO_ROOT / path, Path(metrics_dir) / path.name):
        if candidate.is_file():
            return candidate
    return None
