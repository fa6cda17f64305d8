"""Fetch the Medical Segmentation Decathlon's liver task (LiTS' 131 labelled volumes) and unpack
its labelled volumes, for :mod:`liver_model.volume_import`.

Why here and not in a notebook: the archive is 28.9 GB; a download that breaks at 80 % must
resume, and a damaged one must be refused before hours of training rest on it. The URL, size and
MD5 are the ones MONAI's ``DecathlonDataset`` uses. Nothing in LiverLens calls this at run time
(the app and the tests never download); it is run once, by hand, on a machine with internet.

Licence of the archive: CC BY-SA 4.0 (MSD); the underlying LiTS data states CC BY-NC-SA 4.0.
Never commit the volumes or anything cut from them.
"""
from __future__ import annotations

import hashlib
import tarfile
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from liver_model.errors import DownloadError

Log = Callable[[str], None]
CHUNK = 8 * 1024 * 1024


@dataclass(frozen=True)
class Archive:
    """A published archive and what it must be once downloaded."""

    url: str
    name: str
    size: int
    md5: str


MSD_LIVER = Archive(url="https://msd-for-monai.s3-us-west-2.amazonaws.com/Task03_Liver.tar",
                    name="Task03_Liver.tar", size=28_925_891_584,
                    md5="a90ec6c4aa7f6a3d087205e23d4e6397")
LABELLED_FOLDERS = ("imagesTr", "labelsTr")


def file_md5(path: Path) -> str:
    """MD5 of a file, read in chunks (the archive does not fit in memory)."""
    digest = hashlib.md5()
    with Path(path).open("rb") as handle:
        for block in iter(lambda: handle.read(CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def download(archive: Archive, dest_dir: Path, log: Log = print) -> Path:
    """``dest_dir/archive.name``, downloaded (resuming a ``.part`` file) and checked.

    A finished file of the right size and MD5 is kept as it is. A ``.part`` left by an
    interrupted run is continued with an HTTP range request; a server that ignores the range
    resends from the start, and the bytes already held are skipped. A wrong size or MD5 deletes
    the download and raises :class:`DownloadError` (a damaged archive must not be unpacked).
    """
    dest_dir = Path(dest_dir)
    dest_dir.mkdir(parents=True, exist_ok=True)
    final = dest_dir / archive.name
    if final.is_file() and final.stat().st_size == archive.size and file_md5(final) == archive.md5:
        log(f"{final} is already complete")
        return final
    part = final.with_name(final.name + ".part")
    have = part.stat().st_size if part.is_file() else 0
    request = urllib.request.Request(archive.url, headers={"Range": f"bytes={have}-"} if have else {})
    try:
        with urllib.request.urlopen(request, timeout=60) as response, part.open("ab") as out:
            if have and getattr(response, "status", None) != 206:
                _skip(response, have)  # the server sent the whole file again
            done = have
            for block in iter(lambda: response.read(CHUNK), b""):
                out.write(block)
                done += len(block)
                if done // (1024**3) != (done - len(block)) // (1024**3):
                    log(f"{done / 1024**3:.0f} of {archive.size / 1024**3:.1f} GB")
    except OSError as err:  # URLError, HTTPError, timeouts and disk errors are all OSErrors
        held = part.stat().st_size if part.is_file() else 0
        raise DownloadError(f"Downloading {archive.url} stopped at {held} bytes ({err}); run the "
                            "command again to resume.") from err
    size = part.stat().st_size
    if size != archive.size or file_md5(part) != archive.md5:
        part.unlink()
        raise DownloadError(f"{archive.name} arrived damaged ({size} bytes, expected "
                            f"{archive.size} with MD5 {archive.md5}); it was deleted. Run again.")
    part.replace(final)
    return final


def _skip(response, count: int) -> None:
    """Read and drop the first ``count`` bytes of a response that restarted from byte 0."""
    while count:
        block = response.read(min(CHUNK, count))
        if not block:
            raise DownloadError("The server sent fewer bytes than the partial download holds.")
        count -= len(block)


def extract_labelled(tar_path: Path, dest_dir: Path, log: Log = print) -> Path:
    """Unpack only the labelled volumes (``imagesTr/``, ``labelsTr/``) of an MSD archive into
    ``dest_dir``; returns the task folder. Members that would land outside ``dest_dir`` (absolute
    paths, ``..``, links) and macOS ``._`` files are refused or skipped."""
    dest_dir = Path(dest_dir).resolve()
    root = None
    try:
        with tarfile.open(tar_path) as archive:
            for member in archive:
                parts = Path(member.name).parts
                if (len(parts) < 3 or parts[1] not in LABELLED_FOLDERS
                        or Path(member.name).name.startswith("._") or not member.isfile()):
                    continue
                target = (dest_dir / member.name).resolve()
                if dest_dir not in target.parents:
                    raise DownloadError(f"{tar_path.name} holds a path outside its folder: "
                                        f"{member.name}; it was not unpacked.")
                archive.extract(member, dest_dir, filter="data")
                root = dest_dir / parts[0]
    except tarfile.TarError as err:
        raise DownloadError(f"{tar_path.name} is not a readable tar archive ({err}).") from err
    if root is None:
        raise DownloadError(f"{tar_path.name} holds no {' or '.join(LABELLED_FOLDERS)} folder.")
    log(f"unpacked the labelled volumes into {root}")
    return root
