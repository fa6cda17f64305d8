"""A CV work dir's kept files: named in one place, and an interrupted write is not a fold."""
from __future__ import annotations

from pathlib import Path

from liver_model.cv_work_dir import finished_predictions, predictions_file, weights_file


def test_finished_predictions_in_fold_order_without_temporary_files(tmp_path: Path) -> None:
    for fold in (10, 2, 0):
        predictions_file(tmp_path, fold).write_bytes(b"")
        weights_file(tmp_path, fold).write_bytes(b"")
    (tmp_path / "fold3.tmp.npz").write_bytes(b"")       # a write that never finished
    (tmp_path / "located_views.npz").write_bytes(b"")
    assert [p.name for p in finished_predictions(tmp_path)] == ["fold0.npz", "fold2.npz", "fold10.npz"]
    assert weights_file(tmp_path, 2).name == "fold2.weights.h5"
