"""Uploads stay in the memory of the session that made them: no file written, no log line, no
other session that can see them.

Disk: a Python audit hook records every file the process opens for writing (and every temp file,
directory, rename or copy) while uploads of each format are read through the Diagnose page.
Sessions: two ``AppTest`` sessions of the same process, one uploads, the other must find nothing.
The models are replaced by "none shipped", so the page stops after showing the slice: what is
tested is the upload path, and the test needs no weights (a few seconds).
"""
from __future__ import annotations

import gzip
import io
import logging
import os
import sys
import tempfile
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from dashboard import caching, state
from liver_model.io import load_slices
from liver_model.manifest import read_manifest

REPO = Path(__file__).resolve().parent.parent
APP = str(REPO / "streamlit_app.py")
DIAGNOSE = "pages/diagnose.py"
TIMEOUT = 120
MARKER = "DOE_JOHN_19600101"
"""Stands for a patient's name in an upload's file name."""

WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC
WRITE_EVENTS = {"os.mkdir", "os.rename", "os.link", "os.symlink", "os.truncate", "shutil.copyfile",
                "shutil.copytree", "shutil.move", "tempfile.mkstemp", "tempfile.mkdtemp"}


class WriteRecorder:
    """An audit hook (``sys.addaudithook``) that notes writes to the file system while active.

    Hooks cannot be removed, so it is installed once per process and does nothing when inactive.
    It sees what Python code does (``open`` of every kind, ``os``, ``shutil``, ``tempfile``), which
    covers every reader here: Pillow, pydicom, nibabel and numpy get bytes, not paths.
    """

    def __init__(self) -> None:
        self.active = False
        self.writes: list[str] = []

    def __call__(self, event: str, args: tuple) -> None:
        if not self.active:
            return
        if event == "open" and isinstance(args[2], int) and args[2] & WRITE_FLAGS:
            self.writes.append(f"open for writing: {args[0]}")
        elif event in WRITE_EVENTS:
            self.writes.append(f"{event}: {args[0]}")

    @contextmanager
    def recording(self) -> Iterator[list[str]]:
        """Record writes inside the ``with`` block; yields the list they go to."""
        self.writes = []
        self.active = True
        try:
            yield self.writes
        finally:
            self.active = False


@pytest.fixture(scope="module")
def recorder() -> WriteRecorder:
    hook = WriteRecorder()
    sys.addaudithook(hook)
    return hook


@pytest.fixture()
def no_models(monkeypatch: pytest.MonkeyPatch) -> None:
    """No shipped model: Diagnose reads and shows the upload, then says there is nothing to predict."""
    monkeypatch.setattr(caching, "shipped_cards", lambda: ())
    monkeypatch.delenv("LIVERLENS_AUTH_FILE", raising=False)
    monkeypatch.delenv("LIVERLENS_DATA_DIR", raising=False)


@pytest.fixture(scope="module")
def uploads(lits_manifest: Path, ircadb_manifest: Path) -> dict[str, list[tuple[str, bytes, str]]]:
    """One upload per kind of reader, each file named after a "patient", built in memory."""
    lits = read_manifest(lits_manifest)
    jpeg = Path(lits.loc[lits["tumour_pixels"].astype(int).idxmax(), "path"]).read_bytes()
    dicoms = [Path(p).read_bytes() for p in read_manifest(ircadb_manifest)["path"].head(3)]
    packed = io.BytesIO()
    with zipfile.ZipFile(packed, "w") as archive:
        for number, data in enumerate(dicoms):
            archive.writestr(f"{MARKER}/IM{number:04d}", data)
    hu = np.stack([load_slices(d, "x.dcm")[0].hu for d in dicoms], axis=-1).astype(np.int16)
    npy = io.BytesIO()
    np.save(npy, hu[..., 0])
    return {
        "jpeg": [(f"{MARKER}.jpg", jpeg, "image/jpeg")],
        "dicom": [(f"{MARKER}_{i}.dcm", d, "application/dicom") for i, d in enumerate(dicoms)],
        "zip": [(f"{MARKER}.zip", packed.getvalue(), "application/zip")],
        "nifti": [(f"{MARKER}.nii.gz", gzip.compress(nib.Nifti1Image(hu, np.eye(4)).to_bytes()), "application/gzip")],
        "npy": [(f"{MARKER}.npy", npy.getvalue(), "application/octet-stream")],
    }


def open_diagnose() -> AppTest:
    """A new browser session on Diagnose."""
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.run()
    at.switch_page(DIAGNOSE)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def everything_shown(at: AppTest) -> str:
    """Every text, chart and widget value the session's page holds, and its session state."""
    nodes = "\n".join(repr(getattr(node, "proto", "")) for node in at.main)
    return nodes + repr(at.session_state.to_dict())


def test_the_recorder_sees_writes(recorder: WriteRecorder, tmp_path: Path) -> None:
    """Positive control: without it the test below could never fail."""
    with recorder.recording() as writes:
        (tmp_path / "upload.bin").write_bytes(b"x")
        handle, _ = tempfile.mkstemp(dir=tmp_path)
        os.close(handle)
        (tmp_path / "upload.bin").read_bytes()  # reading is not writing
    assert writes[0] == f"open for writing: {tmp_path / 'upload.bin'}"
    assert any(w.startswith("tempfile.mkstemp") for w in writes)
    assert len(writes) == 3  # the file, the temp file's event and its open; the read added none


@pytest.mark.parametrize("kind", ["jpeg", "dicom", "zip", "nifti", "npy"])
def test_reading_an_upload_writes_no_file(recorder: WriteRecorder, no_models: None,
                                          uploads: dict[str, list[tuple[str, bytes, str]]], kind: str) -> None:
    at = open_diagnose()
    caching.parsed_slices.clear()  # a cached parse from another test would skip the reader
    at.file_uploader[0].set_value(uploads[kind])
    with recorder.recording() as writes:
        at.run()
    assert not at.exception and not at.error, [e.value for e in (*at.exception, *at.error)]
    assert at.session_state[state.ACTIVE_BUNDLE] is not None, "the upload was not read"
    assert not writes, writes


def test_an_upload_is_visible_to_its_own_session_only(no_models: None,
                                                      uploads: dict[str, list[tuple[str, bytes, str]]]) -> None:
    owner = open_diagnose()
    other = open_diagnose()
    owner.file_uploader[0].set_value(uploads["jpeg"])
    owner.run()
    assert not owner.exception
    assert MARKER in everything_shown(owner)  # positive control: the helper does see an upload
    other.run()
    for page in (DIAGNOSE, "pages/compare.py", "pages/volume.py"):
        other.switch_page(page)
        other.run()
        assert not other.exception, [e.value for e in other.exception]
        assert other.session_state[state.ACTIVE_BUNDLE] is None
        assert not other.file_uploader[0].value
        assert MARKER not in everything_shown(other), page


def test_a_failing_upload_is_not_named_in_the_log(no_models: None, monkeypatch: pytest.MonkeyPatch,
                                                  caplog: pytest.LogCaptureFixture,
                                                  uploads: dict[str, list[tuple[str, bytes, str]]]) -> None:
    """A reader bug is logged with its traceback, and the file by hash, never by its name."""
    def broken_reader(*args: object) -> None:
        raise RuntimeError("a reader bug")

    monkeypatch.setattr(caching, "parsed_slices", broken_reader)
    caplog.set_level(logging.DEBUG)
    at = open_diagnose()
    at.file_uploader[0].set_value(uploads["jpeg"])
    at.run()
    assert any(MARKER in e.value for e in at.error)  # the user is told which of their files failed
    logged = [r for r in caplog.records if r.name == "dashboard.uploads"]
    assert logged and "sha256" in logged[0].getMessage()
    assert MARKER not in caplog.text
