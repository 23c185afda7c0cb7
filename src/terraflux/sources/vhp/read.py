"""A NOAA STAR Vegetation Health Products weekly file on its latitude/longitude grid.

Variables ``VCI``, ``TCI``, ``VHI`` (0..100, fill -999 -> NaN) on dims ``(HEIGHT, WIDTH)`` of a regular
latitude/longitude grid (Plate Carree) whose edges are the global attributes ``START_LATITUDE_RANGE``,
``END_LATITUDE_RANGE``, ``START_LONGITUDE_RANGE``, ``END_LONGITUDE_RANGE`` (north row first). Files with
1-D ``latitude``/``longitude`` (or ``lat``/``lon``) coordinates are accepted too.
"""

from __future__ import annotations

from pathlib import Path

from terraflux.errors import DataError
from terraflux.sources.formats.netcdf import open_netcdf

import numpy as np
import xarray as xr


def open_vhp(path: str | Path, variables=("VHI",)) -> xr.Dataset:
    """``VHI`` (and others) as float32 ``(latitude, longitude)`` with latitude descending, NaN outside valid data."""
    path = Path(path)
    ds = open_netcdf(path)
    missing = [v for v in variables if v not in ds.data_vars]
    if missing:
        raise DataError(f"{path}: lacks {missing}; it is not a NOAA VHP VH file. Rerun its download")
    ds = ds[list(variables)]
    if "HEIGHT" in ds.dims:
        try:
            north = float(ds.attrs["START_LATITUDE_RANGE"])
            south = float(ds.attrs["END_LATITUDE_RANGE"])
            west = float(ds.attrs["START_LONGITUDE_RANGE"])
            east = float(ds.attrs["END_LONGITUDE_RANGE"])
        except KeyError as error:
            raise DataError(f"{path}: global attribute {error} missing; cannot place the VHP grid") from error
        ny, nx = ds.sizes["HEIGHT"], ds.sizes["WIDTH"]
        lat = north - (north - south) / ny * (np.arange(ny) + 0.5)
        lon = west + (east - west) / nx * (np.arange(nx) + 0.5)
        ds = ds.rename(HEIGHT="latitude", WIDTH="longitude").assign_coords(latitude=lat, longitude=lon)
    else:
        ds = ds.rename({k: v for k, v in {"lat": "latitude", "lon": "longitude"}.items() if k in ds.dims})
    if ds["latitude"].values[0] < ds["latitude"].values[-1]:
        ds = ds.isel(latitude=slice(None, None, -1))
    out = ds.load()
    ds.close()
    for name in variables:
        values = out[name].values.astype(np.float32)
        values[values < 0] = np.nan  # the fill (-999); values above 100 stay for the plausibility check
        out[name] = (
            ("latitude", "longitude"),
            values,
            {"units": "1", "long_name": out[name].attrs.get("long_name", name)},
        )
    return out
