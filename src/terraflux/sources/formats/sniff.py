"""Detect a raw file's format from its first bytes (the CDS may send a zip even when asked for NetCDF)."""

from __future__ import annotations

from pathlib import Path

from terraflux.errors import DataError

MAGIC = {
    b"PK\x03\x04": "zip",
    b"\x89HDF\r\n\x1a\n": "netcdf4",
    b"CDF\x01": "netcdf3",
    b"CDF\x02": "netcdf3",
    b"CDF\x05": "netcdf3",
    b"GRIB": "grib",
}


def sniff(path: str | Path) -> str:
    """Return ``zip``, ``netcdf4`` (HDF5), ``netcdf3`` or ``grib`` for the file at ``path``.

    Raises DataError for a missing, empty or unknown file (e.g. an HTML error page saved as .nc).
    """
    path = Path(path)
    try:
        with open(path, "rb") as handle:
            head = handle.read(8)
    except OSError as error:
        raise DataError(
            f"{path}: cannot be read ({error.strerror}); check that the acquire step produced it"
        ) from error
    if not head:
        raise DataError(f"{path}: the file is empty; delete it and rerun its download")
    for magic, kind in MAGIC.items():
        if head.startswith(magic):
            return kind
    raise DataError(
        f"{path}: unknown format (first bytes {head!r}); expected zip, NetCDF or GRIB. "
        "Delete the file and rerun its download"
    )
