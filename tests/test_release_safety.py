"""The repository can be published: no CT data, no developer paths, and the README tells the truth.

The CT datasets are licensed non-commercial (LiTS CC BY-NC-SA, IRCAD CC BY-NC-ND), so neither a
slice nor a crop or re-encoding of one may enter the repository. The one exception is the bundled
example (``assets/examples/totalsegmentator_ct``, Apache-2.0 / CC BY 4.0): only the files whose
SHA-256 its ``ATTRIBUTION.md`` lists, and only in that folder. Files are found by content
(magic bytes), not by extension, over tracked files plus untracked files git does not ignore
(what the next ``git add`` would take).
"""

from __future__ import annotations

import gzip
import hashlib
import io
import re
import subprocess
import zipfile
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from PIL import Image

from liver_model.errors import InputError
from liver_model.io import detect_format, load_slice, load_slices
from liver_model.io.archive import expand_zip

REPO = Path(__file__).resolve().parent.parent
# Absolute paths of a developer machine or a container, e.g. "/" "home/alice" (split so that this
# file does not match itself). System paths such as /usr/bin/chromium are allowed.
DEVELOPER_PATH = re.compile(
    r"(?:^|[\s'\"`=(:,\[])(/(?:work|root|home|Users|mnt/data)/[\w.-]+|[A-Za-z]:\\\\?Users\\)"
)
# A CT slice is at least this many pixels on each side (LiTS/IRCAD: 512).
MIN_SLICE_SIDE = 128
# The bundled example, the only CT files allowed, and the dataset folder they were copied from.
EXAMPLE_DIR = REPO / "assets" / "examples" / "totalsegmentator_ct"
EXAMPLE_SOURCE = "totalsegmentator_example_dicom"


def example_hashes() -> set[str]:
    """SHA-256 of every file ATTRIBUTION.md lists (lines ``<hex>  <name>``)."""
    text = (EXAMPLE_DIR / "ATTRIBUTION.md").read_text()
    return set(re.findall(r"^([0-9a-f]{64})  \S+$", text, flags=re.M))


def is_allowed_example(path: Path, data: bytes) -> bool:
    """A file of the bundled example: inside its folder *and* listed by hash in its ATTRIBUTION.md."""
    return path.parent == EXAMPLE_DIR and hashlib.sha256(data).hexdigest() in example_hashes()


def repository_files() -> list[Path]:
    """Tracked files plus untracked files that are not ignored."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=REPO,
        check=True,
        capture_output=True,
    ).stdout.decode()
    return sorted({REPO / name for name in listed.split("\0") if name and (REPO / name).is_file()})


def ct_reason(data: bytes, name: str) -> str | None:
    """Why ``data`` looks like CT image data, or None. Model weights (HDF5) and text never match."""
    kind = detect_format(data[:1024], name)
    if kind in ("dicom", "nifti"):
        return f"{kind} file"
    if kind == "zip":  # a study folder compressed for upload
        try:
            members = expand_zip(data, name)
        except InputError:
            return None
        inner = next((m for m, body in members if ct_reason(body, m)), None)
        return f"ZIP holding CT data ({inner})" if inner else None
    if kind == "gzip":
        try:
            inner = gzip.GzipFile(fileobj=io.BytesIO(data)).read(352)
        except (OSError, EOFError):
            return None
        return "gzipped NIfTI volume" if detect_format(inner, name[:-3]) == "nifti" else None
    if kind == "npy":
        stream = io.BytesIO(data)
        version = np.lib.format.read_magic(stream)
        shape = (
            np.lib.format.read_array_header_1_0
            if version == (1, 0)
            else np.lib.format.read_array_header_2_0
        )(stream)[0]
        return f"array {shape}" if len(shape) >= 2 and sorted(shape)[-2] >= MIN_SLICE_SIDE else None
    if kind in ("png", "jpeg", "tiff"):
        try:
            slices = load_slices(data, name)
        except InputError:  # a colour picture, a screenshot, a broken file: not a CT slice
            return None
        height, width = slices[0].shape
        if min(height, width) < MIN_SLICE_SIDE or max(height, width) > 1.5 * min(height, width):
            return None
        grey = slices[0].rgb[..., 0]
        # an axial CT slice: much air around the body (black) and a body of mid-grey tissue
        if (grey < 10).mean() > 0.15 and (grey > 40).mean() > 0.2:
            return f"{kind} image that looks like a CT slice ({slices[0].meta.get('encoding')})"
    return None


def test_the_detector_finds_real_ct_files_and_spares_pictures(datasets_dir, tmp_path):
    """Positive controls: without them the repository scan below could never fail."""
    dicom = datasets_dir / "ircadb_dicom_sample" / "dicom" / "3Dircadb1.7_image_68.dcm"
    jpeg = datasets_dir / "lits_windowed_jpg" / "images" / "volume-34_slice_68.jpg"
    hu = load_slice(dicom).hu
    nib.save(
        nib.Nifti1Image(np.stack([hu, hu], -1).astype(np.int16), np.eye(4)), tmp_path / "v.nii.gz"
    )
    np.save(tmp_path / "slice.npy", hu)
    buffer = io.BytesIO()
    Image.fromarray(load_slice(dicom).rgb[..., 0]).save(buffer, "PNG")
    packed = io.BytesIO()
    with zipfile.ZipFile(packed, "w") as archive:
        archive.writestr("study/IM0001", dicom.read_bytes())
    positives = {
        "study.zip": packed.getvalue(),
        "x.dcm": dicom.read_bytes(),
        "x.jpg": jpeg.read_bytes(),
        "renamed.txt": jpeg.read_bytes(),
        "v.nii.gz": (tmp_path / "v.nii.gz").read_bytes(),
        "slice.npy": (tmp_path / "slice.npy").read_bytes(),
        "grey.png": buffer.getvalue(),
    }
    for name, data in positives.items():
        assert ct_reason(data, name), name
    from skimage import data as skdata

    for picture in (skdata.astronaut(), skdata.camera()):
        buffer = io.BytesIO()
        Image.fromarray(picture).save(buffer, "PNG")
        assert ct_reason(buffer.getvalue(), "picture.png") is None
    assert ct_reason(Path(__file__).read_bytes(), "test.py") is None


def test_only_the_attributed_example_files_are_allowed(datasets_dir):
    """Positive controls for the exception: a LiTS/IRCAD file in the example folder, or an example
    file anywhere else, is still CT data that must not be committed."""
    ircad = (datasets_dir / "ircadb_dicom_sample" / "dicom" / "3Dircadb1.7_image_68.dcm").read_bytes()
    example = sorted(EXAMPLE_DIR.glob("*.dcm"))
    assert len(example) == 20 == len(example_hashes())
    assert all(is_allowed_example(p, p.read_bytes()) for p in example)
    assert not is_allowed_example(EXAMPLE_DIR / "extra.dcm", ircad)
    assert not is_allowed_example(REPO / "assets" / example[0].name, example[0].read_bytes())
    assert ct_reason(example[0].read_bytes(), example[0].name), "the example is CT, found as such"


def test_repository_holds_no_ct_image_files():
    found = [
        f"{path.relative_to(REPO)}: {reason}"
        for path in repository_files()
        if (reason := ct_reason(data := path.read_bytes(), path.name))
        and not is_allowed_example(path, data)
    ]
    assert not found, "CT data must not be committed (non-commercial licences):\n" + "\n".join(
        found
    )


def test_no_file_is_a_copy_of_a_dataset_file(datasets_dir):
    by_size: dict[int, list[Path]] = {}
    for path in datasets_dir.rglob("*"):
        if path.is_file():
            by_size.setdefault(path.stat().st_size, []).append(path)
    copies = []
    for path in repository_files():
        candidates = by_size.get(path.stat().st_size, [])
        if candidates:
            digest = hashlib.sha256(path.read_bytes()).digest()
            copies += [
                f"{path.relative_to(REPO)} == {c.relative_to(datasets_dir)}"
                for c in candidates
                if hashlib.sha256(c.read_bytes()).digest() == digest
                and not (c.relative_to(datasets_dir).parts[0] == EXAMPLE_SOURCE
                         and is_allowed_example(path, path.read_bytes()))
            ]
    assert not copies, "dataset files copied into the repository:\n" + "\n".join(copies)


def test_no_absolute_paths_of_a_developer_machine():
    hits = []
    for path in repository_files():
        data = path.read_bytes()
        if b"\0" in data[:8192]:
            continue  # binary (weights); paths in text files are what leak
        for number, line in enumerate(data.decode("utf-8", errors="replace").splitlines(), 1):
            if match := DEVELOPER_PATH.search(line):
                hits.append(f"{path.relative_to(REPO)}:{number}: {match.group(1)}")
    assert not hits, (
        "absolute machine paths (use paths relative to the repo or a parameter):\n"
        + "\n".join(hits)
    )


def test_the_path_pattern_catches_typical_leaks():
    home = "/" + "home/alice/data"
    assert DEVELOPER_PATH.search(f'DATA = "{home}"')
    assert DEVELOPER_PATH.search("see " + "/" + "work/main/x.py")
    assert DEVELOPER_PATH.search("C:" + "\\" + "Users" + "\\" + "bob")
    assert not DEVELOPER_PATH.search("chromium is at /usr/bin/chromium; data in ../shared/datasets")


def _readme_setup_commands() -> list[str]:
    readme = (REPO / "README.md").read_text()
    section = readme.split("## Set up", 1)[1].split("\n## ", 1)[0]
    return [
        block.strip() for block in re.findall(r"```(?:bash|sh)?\n(.*?)```", section, flags=re.S)
    ]


def test_readme_has_exactly_two_setup_commands_and_ci_runs_the_test_one():
    commands = _readme_setup_commands()
    assert len(commands) == 2 and all("\n" not in c for c in commands), commands
    app, tests = commands
    assert "requirements.txt" in app and app.endswith("streamlit run streamlit_app.py")
    assert "requirements-dev.txt" in tests and "pytest" in tests
    ci = (REPO / ".ci" / "run").read_text()
    assert ci.startswith("#!/usr/bin/env bash") and "set -euo pipefail" in ci
    assert tests in ci.splitlines(), ".ci/run must run README's test command verbatim"
    if (REPO / ".ci" / "run").stat().st_mode & 0o111 == 0:
        pytest.fail(".ci/run is not executable")
