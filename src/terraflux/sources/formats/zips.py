"""Zips as the services deliver them: members stored uncompressed, with fixed timestamps (reproducible)."""

from __future__ import annotations

import zipfile
from collections.abc import Iterable
from pathlib import Path

#: Timestamp of every member (the zip format's earliest date): the same content gives the same bytes.
ZIP_DATE = (1980, 1, 1, 0, 0, 0)


def add_member(archive: zipfile.ZipFile, name: str, data: bytes) -> None:
    """Store ``data`` as member ``name`` (mode 644, timestamp :data:`ZIP_DATE`)."""
    info = zipfile.ZipInfo(name, date_time=ZIP_DATE)
    info.external_attr = 0o644 << 16
    archive.writestr(info, data)


def zip_files(path: str | Path, files: Iterable[Path], names: Iterable[str] | None = None) -> None:
    """Write a zip at ``path`` holding ``files`` (member names: ``names``, default the files' names); the
    files are removed once stored."""
    files = list(files)
    names = list(names) if names is not None else [f.name for f in files]
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as archive:
        for file, name in zip(files, names, strict=True):
            add_member(archive, name, file.read_bytes())
            file.unlink()
