"""ESA CCI / C3S land-cover maps (CDS ``satellite-land-cover`` zip holding one NetCDF) and the PFT product.

``lccs_class`` is uint8 (older files: signed byte with ``_Unsigned = "true"``, decoded by xarray) on a
1/360 degree grid with latitude descending; dims ``(time, lat, lon)`` -> returned as ``(latitude, longitude)``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from terraflux.errors import DataError
from terraflux.sources.formats.netcdf import extracted, open_netcdf
from terraflux.sources.formats.sniff import sniff
from terraflux.sources.land_cover import PFT_VARIABLES

import numpy as np
import xarray as xr


def _standard(ds: xr.Dataset, path: Path, names: tuple[str, ...]) -> xr.Dataset:
    ds = ds.rename({k: v for k, v in {"lat": "latitude", "lon": "longitude"}.items() if k in ds.dims})
    missing = [n for n in names if n not in ds.data_vars]
    if missing:
        raise DataError(f"{path}: lacks {missing}; it is not an ESA CCI land-cover file. Rerun its download")
    ds = ds[list(names)]
    if "time" in ds.dims:
        ds = ds.isel(time=0, drop=True)
    if ds["latitude"].values[0] < ds["latitude"].values[-1]:
        ds = ds.isel(latitude=slice(None, None, -1))
    return ds


@contextmanager
def open_lccs(path: str | Path) -> Iterator[xr.DataArray]:
    """``lccs_class(latitude, longitude)`` uint8 (lazy) from the zip (or a bare NetCDF)."""
    path = Path(path)
    if sniff(path) == "zip":
        with extracted(path) as members:
            with open_netcdf(members[0]) as ds:
                yield _standard(ds, path, ("lccs_class",))["lccs_class"].astype(np.uint8)
    else:
        with open_netcdf(path) as ds:
            yield _standard(ds, path, ("lccs_class",))["lccs_class"].astype(np.uint8)


@contextmanager
def open_pft(path: str | Path) -> Iterator[xr.Dataset]:
    """The ESA CCI PFT product's 14 percentage variables (uint8, %) as ``(latitude, longitude)``."""
    path = Path(path)
    with open_netcdf(path) as ds:
        yield _standard(ds, path, PFT_VARIABLES)
