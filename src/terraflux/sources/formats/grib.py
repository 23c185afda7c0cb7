"""GRIB helpers: walking a file's messages (completeness) and cfgrib opening without an index file beside the raw file.

A GRIB message (editions 1 and 2) starts with ``GRIB``, declares its total length in section 0 and ends with
``7777`` (WMO Manual on Codes, WMO-No. 306, Volume I.2, FM 92 GRIB). Files from the Climate Data Store often
carry bytes after the last message, e.g. zeros up to a multiple of 120 bytes (the same padding is discussed in
https://github.com/gribscan/gribscan/pull/50). :func:`messages` therefore walks the messages with eccodes, which
skips bytes that do not start a message, reads each declared length (the GRIB1 large-message convention
included) and refuses a message that the file cuts short or that does not end with ``7777``: trailing padding
passes, a cut message (also one after the padding) is a :class:`~terraflux.errors.DataError` saying the file is
truncated.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from terraflux.errors import DataError


def messages(handle: BinaryIO, path: str | Path) -> Iterator[int]:
    """Headers-only eccodes handles of the messages of the open GRIB file ``handle``, in file order.

    Each handle is released when the caller asks for the next one. A message cut short, or whose declared
    length does not end on ``7777``, is a DataError naming ``path`` and the byte where the last complete
    message ends.
    """
    import eccodes  # late: pyproj is loaded first by terraflux

    end = 0
    while True:
        try:
            h = eccodes.codes_grib_new_from_file(handle, headers_only=True)
        except eccodes.GribInternalError as error:
            raise DataError(
                f"{path}: the GRIB message after byte {end} is incomplete ({error}): the file is truncated or "
                "corrupt. Delete it and rerun its download"
            ) from error
        if h is None:
            return
        try:
            end = int(eccodes.codes_get(h, "offset")) + int(eccodes.codes_get(h, "totalLength"))
            yield h
        finally:
            eccodes.codes_release(h)


def check_grib_complete(path: str | Path) -> int:
    """Walk every message of a GRIB file (:func:`messages`); return their number. Bytes after the last complete
    message that start no other message are accepted; a cut message is a DataError (cfgrib would silently skip
    it)."""
    with open(path, "rb") as handle:
        return sum(1 for _ in messages(handle, path))


def open_grib_datasets(path: str | Path, **kwargs) -> list:
    """``cfgrib.open_datasets`` with its message index in a temporary folder (never beside the raw file).

    Without an index file cfgrib scans the whole file again for every group of fields it tries; the index is
    only needed while the datasets are built.
    """
    import cfgrib  # loads eccodes; pyproj is already loaded (terraflux/__init__.py)

    with tempfile.TemporaryDirectory(prefix="terraflux-grib-") as tmp:
        return cfgrib.open_datasets(str(path), backend_kwargs={"indexpath": f"{tmp}/{{short_hash}}.idx"}, **kwargs)
