"""CERRA from the synthetic world: the values of each file, written by :mod:`terraflux.sources.cerra.write`.

The files hold the smallest rectangle of CERRA grid points that covers the region (:func:`.grids.cerra_grid`);
values are the world's weather at those points (the same weather as ERA5-Land), each CERRA variable made
of one weather quantity (:data:`QUANTITIES`):

- analysis: every variable at the configured 3-hourly UTC hours;
- forecast: e.g. total precipitation (kg m-2) accumulated over the 3 hours after each base time.
"""

from __future__ import annotations

import calendar
import datetime as dt
from pathlib import Path

from terraflux.sources.cerra import Variable, write
from terraflux.synthetic.grids import cerra_grid
from terraflux.synthetic.weather import Weather

import numpy as np

#: CERRA short name -> (quantity of :class:`terraflux.synthetic.weather.Weather`, factor to the file's units).
QUANTITIES = {
    "t2m": ("t2m", 1.0),
    "r2": ("rh", 100.0),
    "sp": ("sp", 1.0),
    "tcc": ("cloud", 100.0),
    "al": ("fal", 100.0),
    "vsw": ("swvl1", 1.0),
    "skt": ("skt", 1.0),
    "si10": ("wind", 1.0),
    "tp": ("tp", 1000.0),
}
#: Hours of a forecast accumulation.
ACCUMULATION_HOURS = 3


def _grid_points(world):
    """The CERRA sub-grid, its 2-D latitude / longitude and weather points (computed once per world)."""
    grid = cerra_grid(world.spec.region)
    lat, lon = grid.latlon()
    return grid, lat, lon, world.points("cerra", lat, lon)


def _month_base_hours(year: int, month: int, hours_utc: list[int]) -> np.ndarray:
    start = (dt.datetime(year, month, 1) - dt.datetime(1970, 1, 1)).days * 24
    days = calendar.monthrange(year, month)[1]
    base = start + 24 * np.arange(days)[:, None] + np.asarray(sorted(hours_utc))[None, :]
    return base.ravel().astype(np.int64)


def write_analysis(
    path: str | Path, world, year: int, month: int, variables: list[Variable], hours_utc: list[int]
) -> None:
    """The month's analysis file: all variables at each analysis time."""
    grid, lat, lon, points = _grid_points(world)
    base = _month_base_hours(year, month, hours_utc)
    weather = Weather(points, base)
    fields = {}
    for var in variables:
        quantity, factor = QUANTITIES[var.short]
        fields[var.short] = weather.get(quantity) * np.float32(factor)
    write.grib(path, grid.nx, grid.ny, (lat[0, 0], lon[0, 0]), variables, base, fields, accumulation_hours=None)


def write_forecast(
    path: str | Path, world, year: int, month: int, variables: list[Variable], hours_utc: list[int]
) -> None:
    """The month's forecast file: accumulations over the 3 hours after each base time (tp: kg m-2)."""
    grid, lat, lon, points = _grid_points(world)
    base = _month_base_hours(year, month, hours_utc)
    steps = range(1, ACCUMULATION_HOURS + 1)
    hourly = np.unique(np.concatenate([base + k for k in steps]))
    weather = Weather(points, hourly)
    totals = {}
    for var in variables:
        quantity, factor = QUANTITIES[var.short]
        amounts = weather.get(quantity)
        totals[var.short] = sum(amounts[np.searchsorted(hourly, base + k)] for k in steps) * np.float32(factor)
    write.grib(
        path, grid.nx, grid.ny, (lat[0, 0], lon[0, 0]), variables, base, totals, accumulation_hours=ACCUMULATION_HOURS
    )
