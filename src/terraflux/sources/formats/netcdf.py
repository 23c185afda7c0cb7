"""Open NetCDF files (NetCDF4/HDF5 or NetCDF3), plain or inside a zip, with an explicit engine.

The engine is always given: letting xarray guess loads the cfgrib and rioxarray plugins, and with eccodes
and pyproj both loaded the interpreter can abort at exit. netCDF-C keeps a read cache per variable per open
file (64 MiB by default); :func:`small_chunk_cache` makes it small so memory stays flat with many files.
"""

from __future__ import annotations

import tempfile
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from terraflux.errors import DataError
from terraflux.sources.formats.sniff import sniff

import netCDF4
import xarray as xr

CHUNK_CACHE_BYTES = 1 << 20


def small_chunk_cache(size: int = CHUNK_CACHE_BYTES) -> None:
    """Make netCDF-C's per-variable chunk cache ``size`` bytes for files opened from now on."""
    netCDF4.set_chunk_cache(size, 521, 0.75)


def open_netcdf(path: str | Path, *, decode: bool = True) -> xr.Dataset:
    """Open one NetCDF3/NetCDF4 file lazily (engine netcdf4); a corrupt or truncated file is a DataError."""
    path = Path(path)
    kind = sniff(path)
    if kind not in ("netcdf4", "netcdf3"):
        raise DataError(f"{path}: expected a NetCDF file but found {kind}")
    try:
        return xr.open_dataset(path, engine="netcdf4", mask_and_scale=decode, decode_times=decode, cache=False)
    except (OSError, RuntimeError, ValueError, KeyError) as error:
        raise DataError(
            f"{path}: cannot be read as NetCDF ({error}); the file is truncated or corrupt. "
            "Delete it and rerun its download"
        ) from error


@contextmanager
def extracted(path: str | Path, suffixes: tuple[str, ...] = (".nc",)) -> Iterator[list[Path]]:
    """Extract the members of a zip with one of ``suffixes`` into a temporary folder; yield their paths."""
    path = Path(path)
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as error:
        raise DataError(f"{path}: not a readable zip ({error}); delete it and rerun its download") from error
    with archive, tempfile.TemporaryDirectory(prefix="terraflux-zip-") as tmp:
        names = sorted(n for n in archive.namelist() if n.lower().endswith(suffixes) and not n.endswith("/"))
        if not names:
            raise DataError(
                f"{path}: the zip holds no {'/'.join(suffixes)} file ({archive.namelist()}); rerun its download"
            )
        out = []
        for index, name in enumerate(names):
            target = Path(tmp) / f"{index:03d}_{Path(name).name}"
            try:
                with archive.open(name) as source, open(target, "wb") as sink:
                    while block := source.read(1 << 22):
                        sink.write(block)
            except (zipfile.BadZipFile, OSError, EOFError) as error:
                raise DataError(
                    f"{path}: member {name} is corrupt ({error}); delete the zip and rerun its download"
                ) from error
            out.append(target)
        yield out
