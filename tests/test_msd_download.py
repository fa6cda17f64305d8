"""The MSD downloader on local files (file:// URLs): resume, checksum, and an unpacking that keeps
only the labelled volumes and refuses paths outside its folder. Nothing here touches the network."""
from __future__ import annotations

import hashlib
import io
import tarfile
from pathlib import Path

import pytest

from liver_model.errors import DownloadError
from liver_model.msd_download import Archive, download, extract_labelled



def _tar(path: Path, members: dict[str, bytes]) -> Path:
    with tarfile.open(path, "w") as archive:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return path


@pytest.fixture()
def dicom(datasets_dir: Path) -> Path:
    return datasets_dir / "ircadb_dicom_sample" / "dicom" / "3Dircadb1.7_image_48.dcm"


@pytest.fixture()
def published(tmp_path, dicom) -> Archive:
    """A Task03-shaped archive (a real DICOM's bytes stand in for each volume)."""
    volume = dicom.read_bytes()
    path = _tar(tmp_path / "published.tar", {
        "Task03_Liver/dataset.json": b"{}",
        "Task03_Liver/imagesTr/liver_34.nii.gz": volume,
        "Task03_Liver/imagesTr/._liver_34.nii.gz": b"resource fork",
        "Task03_Liver/labelsTr/liver_34.nii.gz": volume[::-1],
        "Task03_Liver/imagesTs/liver_140.nii.gz": volume,
    })
    data = path.read_bytes()
    return Archive(url=path.as_uri(), name="Task03_Liver.tar", size=len(data),
                   md5=hashlib.md5(data).hexdigest())


def test_download_checks_and_unpacks_only_the_labelled_volumes(tmp_path, published, dicom):
    dest = tmp_path / "dest"
    tar = download(published, dest, log=lambda line: None)
    assert tar.read_bytes() == Path(published.url[len("file://"):]).read_bytes()
    root = extract_labelled(tar, dest, log=lambda line: None)
    assert root == (dest / "Task03_Liver").resolve()
    found = sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())
    assert found == ["imagesTr/liver_34.nii.gz", "labelsTr/liver_34.nii.gz"]
    assert (root / "imagesTr" / "liver_34.nii.gz").read_bytes() == dicom.read_bytes()


def test_an_interrupted_download_resumes_from_its_part_file(tmp_path, published):
    dest = tmp_path / "dest"
    dest.mkdir()
    whole = Path(published.url[len("file://"):]).read_bytes()
    (dest / "Task03_Liver.tar.part").write_bytes(whole[: len(whole) // 3])
    assert download(published, dest, log=lambda line: None).read_bytes() == whole
    assert not (dest / "Task03_Liver.tar.part").exists()


def test_a_complete_archive_is_not_fetched_again(tmp_path, published):
    dest = tmp_path / "dest"
    download(published, dest, log=lambda line: None)
    offline = Archive(url="file:///nonexistent/Task03_Liver.tar", name=published.name,
                      size=published.size, md5=published.md5)
    assert download(offline, dest, log=lambda line: None) == dest / published.name


def test_a_damaged_or_missing_download_is_refused_and_not_kept(tmp_path, published):
    wrong = Archive(url=published.url, name=published.name, size=published.size, md5="0" * 32)
    with pytest.raises(DownloadError, match="arrived damaged"):
        download(wrong, tmp_path / "a", log=lambda line: None)
    assert not any((tmp_path / "a").iterdir())
    gone = Archive(url=(tmp_path / "absent.tar").as_uri(), name="x.tar", size=1, md5="0" * 32)
    with pytest.raises(DownloadError, match="run the command again"):
        download(gone, tmp_path / "b", log=lambda line: None)


def test_unpacking_refuses_paths_outside_its_folder_and_archives_without_volumes(tmp_path):
    evil = _tar(tmp_path / "evil.tar", {"Task03_Liver/imagesTr/../../../escaped.nii.gz": b"x"})
    with pytest.raises(DownloadError, match="outside its folder"):
        extract_labelled(evil, tmp_path / "out", log=lambda line: None)
    assert not (tmp_path / "escaped.nii.gz").exists()
    empty = _tar(tmp_path / "empty.tar", {"Task03_Liver/dataset.json": b"{}"})
    with pytest.raises(DownloadError, match="holds no imagesTr"):
        extract_labelled(empty, tmp_path / "out", log=lambda line: None)
    (tmp_path / "junk.tar").write_bytes(b"not a tar archive at all" * 40)
    with pytest.raises(DownloadError, match="not a readable tar"):
        extract_labelled(tmp_path / "junk.tar", tmp_path / "out", log=lambda line: None)
