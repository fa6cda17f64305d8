"""A ZIP of a study folder (what "export to folder" plus "compress" gives) to its member files.

Browsers cannot upload a folder into Streamlit, and a PACS or CD export is a folder tree
(often with a DICOMDIR), so a ZIP is how a whole study arrives. Members are read with size
limits checked on the way (a zip bomb is refused), and named ``archive.zip/path/in/zip``.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Sequence

from liver_model.errors import CorruptImage, ImageTooLarge, UnsupportedFormat
from liver_model.io import limits
from liver_model.io.sniff import detect_format


def expand_zip(data: bytes, label: str) -> list[tuple[str, bytes]]:
    """Every regular member file of a ZIP (no folders, no macOS metadata), in archive order."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        infos = [
            info
            for info in archive.infolist()
            if not info.is_dir()
            and "__MACOSX/" not in info.filename
            and not info.filename.rsplit("/", 1)[-1].startswith(".")
        ]
        if len(infos) > limits.MAX_ARCHIVE_MEMBERS:
            raise ImageTooLarge(
                f"{label} holds {len(infos)} files, more than the {limits.MAX_ARCHIVE_MEMBERS} LiverLens "
                "reads at once. Upload a ZIP of one series (the slices around the liver)."
            )
        members, total = [], 0
        for info in infos:
            with archive.open(info) as member:
                body = member.read(limits.MAX_ARCHIVE_BYTES - total + 1)
            total += len(body)
            if total > limits.MAX_ARCHIVE_BYTES:
                raise ImageTooLarge(
                    f"{label} expands to more than {limits.MAX_ARCHIVE_BYTES // 1024**3} GB; upload a "
                    "ZIP of one series (the slices around the liver) instead of the whole study."
                )
            if body:
                members.append((f"{label}/{info.filename}", body))
    except RuntimeError as err:  # zipfile's "File is encrypted, password required"
        raise UnsupportedFormat(
            f"{label} is password-protected. Export the study again without a password and upload that."
        ) from err
    except (zipfile.BadZipFile, EOFError, ValueError, NotImplementedError, OSError) as err:
        raise CorruptImage(
            f"{label} is a damaged or truncated ZIP archive ({err}). Compress the study folder "
            "again and upload the new file."
        ) from err
    if not members:
        raise UnsupportedFormat(f"{label} is an empty ZIP archive. Upload a ZIP of a DICOM series folder.")
    return members


def expand_archives(files: Sequence[tuple[str, bytes]]) -> list[tuple[str, bytes]]:
    """Uploaded ``(name, bytes)`` pairs with every ZIP replaced by its members."""
    out: list[tuple[str, bytes]] = []
    for name, data in files:
        if detect_format(data[:1024], name) == "zip":
            out.extend(expand_zip(data, name))
        else:
            out.append((name, data))
    return out
