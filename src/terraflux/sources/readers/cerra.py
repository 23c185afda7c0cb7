"""CERRA single-level GRIB2 files (Lambert conformal conic) via cfgrib (``engine="cfgrib"`` always explicit).

Returns dims ``(time, y, x)`` with ``x``/``y`` in metres on the grid's own projection (from the GRIB keys
LaD, LoV, Latin1/2, Dx/Dy and the first grid point; sphere radius 6371229 m), 2-D ``latitude``/``longitude``,
short variable names, float32. Analysis fields have ``time`` = analysis time; forecast accumulations
(e.g. ``tp``, kg m-2 over ``step`` hours) have ``time`` = start of the accumulation and ``attrs['step_hours']``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyproj
import xarray as xr

from terraflux.errors import DataError
from terraflux.sources.readers.sniff import check_grib_complete, open_grib_datasets, sniff

EARTH_RADIUS = 6371229.0
DROP = ("number", "surface", "heightAboveGround", "depthBelowLandLayer", "valid_time", "step", "meanSea", "soilLayer", "entireAtmosphere")


def crs_of(attrs: dict) -> pyproj.CRS:
    """The Lambert conformal CRS of a cfgrib variable's ``GRIB_*`` attributes."""
    try:
        return pyproj.CRS.from_proj4(
            f"+proj=lcc +lat_0={attrs['GRIB_LaDInDegrees']} +lon_0={attrs['GRIB_LoVInDegrees']} "
            f"+lat_1={attrs['GRIB_Latin1InDegrees']} +lat_2={attrs['GRIB_Latin2InDegrees']} "
            f"+x_0=0 +y_0=0 +R={EARTH_RADIUS:.0f} +units=m +no_defs"
        )
    except KeyError as error:
        raise DataError(f"GRIB message without Lambert grid key {error}; expected CERRA's Lambert conformal grid") from error


def open_cerra(path: str | Path) -> xr.Dataset:
    """All fields of one CERRA GRIB2 file as one lazy dataset on ``(time, y, x)`` (see module doc)."""

    path = Path(path)
    if sniff(path) != "grib":
        raise DataError(f"{path}: expected a GRIB file (CERRA); rerun its download")
    check_grib_complete(path)
    try:
        parts = open_grib_datasets(path)
    except Exception as error:  # eccodes raises many types for corrupt files
        raise DataError(f"{path}: cannot be read as GRIB ({error}); the file is truncated or corrupt. Delete it and rerun its download") from error
    if not parts:
        raise DataError(f"{path}: the GRIB file holds no fields; rerun its download")
    out = []
    step_hours = None
    for part in parts:
        if "step" in part.coords and part["step"].size == 1:
            hours = float(part["step"].values / np.timedelta64(1, "h"))
            if hours:
                step_hours = hours
        part = part.drop_vars([c for c in DROP if c in part.coords and c not in part.dims])
        if "time" not in part.dims:
            part = part.expand_dims("time")
        out.append(part)
    ds = xr.merge(out, join="outer", compat="override", combine_attrs="drop_conflicts")
    first = next(iter(ds.data_vars.values()))
    if first.attrs.get("GRIB_gridType") != "lambert":
        raise DataError(f"{path}: grid type {first.attrs.get('GRIB_gridType')!r}, expected CERRA's 'lambert'")
    crs = crs_of(first.attrs)
    to_xy = pyproj.Transformer.from_crs("EPSG:4326", crs, always_xy=True)
    lat0 = float(first.attrs["GRIB_latitudeOfFirstGridPointInDegrees"])
    lon0 = float(first.attrs["GRIB_longitudeOfFirstGridPointInDegrees"])
    x0, y0 = to_xy.transform(((lon0 + 180) % 360) - 180, lat0)
    dx = float(first.attrs["GRIB_DxInMetres"])
    dy = float(first.attrs["GRIB_DyInMetres"])
    sign_y = 1.0 if int(first.attrs.get("GRIB_jScansPositively", 1)) else -1.0
    ds = ds.assign_coords(
        x=("x", np.round(x0 + dx * np.arange(ds.sizes["x"]), 1), {"units": "m", "standard_name": "projection_x_coordinate"}),
        y=("y", np.round(y0 + sign_y * dy * np.arange(ds.sizes["y"]), 1), {"units": "m", "standard_name": "projection_y_coordinate"}),
    )
    ds = ds.transpose("time", "y", "x")
    for name in list(ds.data_vars):
        if ds[name].dtype != np.float32:
            ds[name] = ds[name].astype(np.float32)
    ds.attrs["crs_wkt"] = crs.to_wkt()
    if step_hours:
        ds.attrs["step_hours"] = step_hours
    ds.attrs["source_file"] = str(path)
    return ds


def read_values(ds: xr.Dataset, name: str) -> np.ndarray:
    """Load one variable (float32); a GRIB message that cannot be decoded is a DataError naming the file."""
    try:
        return ds[name].values.astype(np.float32, copy=False)
    except Exception as error:  # eccodes raises many types for truncated messages
        raise DataError(
            f"{ds.attrs.get('source_file')}: cannot decode {name} ({type(error).__name__}: {error}); "
            "the file is truncated or corrupt. Delete it and rerun its download"
        ) from error
