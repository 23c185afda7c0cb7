"""A NOAA VHP weekly file written from arrays (the blended 4 km layout on the global 0.036 degree grid).

Dims ``HEIGHT`` x ``WIDTH`` (north row first) of a window of the global grid; ``VCI``, ``TCI``, ``VHI`` float32
(0..100, fill -999, zlib level 4) and ``QA`` int16; global attributes: satellite, year, week, its first and
last day of year, the window's edges (``START/END_LATITUDE_RANGE``, ``START/END_LONGITUDE_RANGE``) and the
projection.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from terraflux.sources.vhp import FILL, STEP

import netCDF4
import numpy as np

LONG_NAMES = {"VCI": "Vegetation Condition Index", "TCI": "Thermal Condition Index", "VHI": "Vegetation Health Index"}


def week_file(
    path: str | Path,
    lat: np.ndarray,
    lon: np.ndarray,
    indices: dict[str, np.ndarray],
    sea: np.ndarray,
    satellite: str,
    year: int,
    week: int,
    begin: dt.date,
) -> None:
    """One weekly file. ``lat`` [ny] (descending) and ``lon`` [nx]: pixel centres, degrees; ``indices``: VCI,
    TCI, VHI float32 [ny, nx]; ``sea`` bool [ny, nx] (fill value and QA 1 there); ``begin``: the week's first
    day."""
    fill = np.float32(FILL)
    day = begin.timetuple().tm_yday
    with netCDF4.Dataset(path, "w", format="NETCDF4") as nc:
        nc.setncatts(
            {
                "title": "Vegetation Health Products (VHP), blended 4 km, weekly",
                "institution": "NOAA/NESDIS/STAR",
                "SATELLITE": satellite,
                "YEAR": np.int16(year),
                "PERIOD_OF_YEAR": np.int16(week),
                "DATE_BEGIN": np.int16(day),
                "DATE_END": np.int16(min(day + 6, 366)),
                "START_LATITUDE_RANGE": np.float32(round(lat[0] + STEP / 2, 6)),
                "END_LATITUDE_RANGE": np.float32(round(lat[-1] - STEP / 2, 6)),
                "START_LONGITUDE_RANGE": np.float32(round(lon[0] - STEP / 2, 6)),
                "END_LONGITUDE_RANGE": np.float32(round(lon[-1] + STEP / 2, 6)),
                "PROJECTION": "Plate_Carree",
            }
        )
        nc.createDimension("HEIGHT", len(lat))
        nc.createDimension("WIDTH", len(lon))
        for name in ("VCI", "TCI", "VHI"):
            var = nc.createVariable(name, "f4", ("HEIGHT", "WIDTH"), zlib=True, complevel=4, fill_value=fill)
            var.long_name = LONG_NAMES[name]
            var.units = "1"
            var.valid_range = np.array([0.0, 100.0], dtype=np.float32)
            var[:] = np.where(sea, fill, indices[name])
        qa = nc.createVariable("QA", "i2", ("HEIGHT", "WIDTH"), zlib=True, complevel=4)
        qa.long_name = "Quality flag (0 good, 1 water)"
        qa[:] = sea.astype(np.int16)
