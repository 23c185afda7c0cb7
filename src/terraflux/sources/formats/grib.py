"""GRIB helpers: completeness of a file and cfgrib opening without an index file beside the raw file."""

from __future__ import annotations

import tempfile
from pathlib import Path

from terraflux.errors import DataError


def check_grib_complete(path: str | Path) -> None:
    """A GRIB file must end with the end-of-message marker ``7777``: else it is truncated (cfgrib would
    silently skip the partial message)."""
    path = Path(path)
    with open(path, "rb") as handle:
        handle.seek(0, 2)
        size = handle.tell()
        handle.seek(max(size - 4, 0))
        tail = handle.read(4)
    if tail != b"7777":
        raise DataError(
            f"{path}: the last GRIB message is incomplete (file truncated); delete it and rerun its download"
        )


def open_grib_datasets(path: str | Path, **kwargs) -> list:
    """``cfgrib.open_datasets`` with its message index in a temporary folder (never beside the raw file).

    Without an index file cfgrib scans the whole file again for every group of fields it tries; the index is
    only needed while the datasets are built.
    """
    import cfgrib  # loads eccodes; pyproj is already loaded (terraflux/__init__.py)

    with tempfile.TemporaryDirectory(prefix="terraflux-grib-") as tmp:
        return cfgrib.open_datasets(str(path), backend_kwargs={"indexpath": f"{tmp}/{{short_hash}}.idx"}, **kwargs)
