"""A NOAA STAR Vegetation Health Products weekly file on its latitude/longitude grid.

Variables ``VCI``, ``TCI``, ``VHI`` (0..100, fill -999 -> NaN) on dims ``(HEIGHT, WIDTH)`` of a regular
latitude/longitude grid (Plate Carree), north row first. The outer edges of the grid are global attributes, named
in one of the two ways of the VHP user guide (NOAA STAR, "Vegetation Health Products user guide" v2.0, 2018,
https://www.star.nesdis.noaa.gov/smcd/emb/vci/VH_doc/VHP_uguide_v2.0_2018_0727.pdf), both accepted:

- ``START_LATITUDE_RANGE`` (north), ``END_LATITUDE_RANGE`` (south), ``START_LONGITUDE_RANGE`` (west),
  ``END_LONGITUDE_RANGE`` (east): the files of the first version;
- ``geospatial_lat_max`` (north), ``geospatial_lat_min`` (south), ``geospatial_lon_min`` (west),
  ``geospatial_lon_max`` (east): the files of the newer version.

Without either set, 1-D ``latitude(HEIGHT)`` / ``longitude(WIDTH)`` variables (which the newer files also carry)
give the pixel centres; files with ``latitude``/``longitude`` (or ``lat``/``lon``) dimensions are accepted too.
"""

from __future__ import annotations

from pathlib import Path

from terraflux.errors import DataError
from terraflux.sources.formats.netcdf import open_netcdf

import numpy as np
import xarray as xr

#: Global attributes holding the grid's edges: (north, south, west, east), per version of the files.
EDGE_ATTRIBUTES = (
    ("START_LATITUDE_RANGE", "END_LATITUDE_RANGE", "START_LONGITUDE_RANGE", "END_LONGITUDE_RANGE"),
    ("geospatial_lat_max", "geospatial_lat_min", "geospatial_lon_min", "geospatial_lon_max"),
)


def _pixel_centres(ds: xr.Dataset, path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Latitude [HEIGHT] (north first) and longitude [WIDTH] of the pixel centres, degrees."""
    ny, nx = ds.sizes["HEIGHT"], ds.sizes["WIDTH"]
    for names in EDGE_ATTRIBUTES:
        if all(name in ds.attrs for name in names):
            north, south, west, east = (float(np.asarray(ds.attrs[name]).ravel()[0]) for name in names)
            lat = north - (north - south) / ny * (np.arange(ny) + 0.5)
            lon = west + (east - west) / nx * (np.arange(nx) + 0.5)
            return lat, lon
    fields = {name: ds.variables.get(name) for name in ("latitude", "longitude")}
    if fields["latitude"] is not None and fields["longitude"] is not None:
        if fields["latitude"].dims == ("HEIGHT",) and fields["longitude"].dims == ("WIDTH",):
            return np.asarray(fields["latitude"].values, float), np.asarray(fields["longitude"].values, float)
    wanted = " or ".join(", ".join(names) for names in EDGE_ATTRIBUTES)
    raise DataError(
        f"{path}: the global attributes {wanted} are missing (and no latitude/longitude fields); cannot place the "
        "VHP grid. The file is not a NOAA VHP VH file as the server delivers it: rerun its download"
    )


def open_vhp(path: str | Path, variables=("VHI",)) -> xr.Dataset:
    """``VHI`` (and others) as float32 ``(latitude, longitude)`` with latitude descending, NaN outside valid data."""
    path = Path(path)
    ds = open_netcdf(path)
    missing = [v for v in variables if v not in ds.data_vars]
    if missing:
        raise DataError(f"{path}: lacks {missing}; it is not a NOAA VHP VH file. Rerun its download")
    if "HEIGHT" in ds.dims:
        lat, lon = _pixel_centres(ds, path)
        ds = ds[list(variables)].reset_coords(drop=True)
        ds = ds.rename(HEIGHT="latitude", WIDTH="longitude").assign_coords(latitude=lat, longitude=lon)
    else:
        ds = ds[list(variables)]
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
