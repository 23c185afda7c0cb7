"""CERRA GRIB2 files (CDS ``reanalysis-cerra-single-levels``) written with eccodes.

Lambert conformal conic grid with CERRA's exact parameters (SOURCES.md 3: LaD = LoV = 50 / 8 deg,
Latin1 = Latin2 = 50, Dx = Dy = 5500 m, sphere R = 6371229 m, scanning +i +j), cut to the smallest
rectangle of CERRA points that covers the region: the first grid point is that rectangle's south-west
corner. Values are the synthetic world's weather at those points (the same weather as ERA5-Land).

- analysis: one message per (time, variable) at the configured 3-hourly UTC hours, step 0;
- forecast: e.g. total precipitation (kg m-2) accumulated over the 3 hours after each base time
  (``stepRange`` 0-3, ``stepType`` accum).
"""

from __future__ import annotations

import calendar
import datetime as dt
from pathlib import Path

import eccodes
import numpy as np

from terraflux.synthetic.grids import CERRA_DX, CerraGrid, cerra_grid
from terraflux.synthetic.variables import CerraVar
from terraflux.synthetic.weather import Weather


def _template(grid: CerraGrid, lat0: float, lon0: float) -> int:
    """A GRIB2 handle with CERRA's Lambert grid set (the caller releases it)."""
    h = eccodes.codes_grib_new_from_samples("GRIB2")
    eccodes.codes_set(h, "centre", "ecmf")
    eccodes.codes_set(h, "gridType", "lambert")
    for key, value in (
        ("shapeOfTheEarth", 6), ("Nx", grid.nx), ("Ny", grid.ny),
        ("latitudeOfFirstGridPointInDegrees", float(lat0)), ("longitudeOfFirstGridPointInDegrees", float(lon0 % 360.0)),
        ("LaDInDegrees", 50.0), ("LoVInDegrees", 8.0), ("Latin1InDegrees", 50.0), ("Latin2InDegrees", 50.0),
        ("DxInMetres", CERRA_DX), ("DyInMetres", CERRA_DX), ("iScansNegatively", 0), ("jScansPositively", 1),
        ("latitudeOfSouthernPoleInDegrees", -90.0), ("longitudeOfSouthernPoleInDegrees", 0.0),
    ):
        eccodes.codes_set(h, key, value)
    eccodes.codes_set(h, "bitsPerValue", 16)
    return h


def _grid_points(world):
    """The CERRA sub-grid, its 2-D latitude / longitude and weather points (computed once per world)."""
    grid = cerra_grid(world.spec.region)
    lat, lon = grid.latlon()
    return grid, lat, lon, world.points("cerra", lat, lon)


def _set_param(h: int, var: CerraVar) -> None:
    eccodes.codes_set(h, "paramId", var.param_id)
    eccodes.codes_set(h, "typeOfLevel", var.type_of_level)
    eccodes.codes_set(h, "level", var.level)


def _month_base_hours(year: int, month: int, hours_utc: list[int]) -> np.ndarray:
    start = (dt.datetime(year, month, 1) - dt.datetime(1970, 1, 1)).days * 24
    days = calendar.monthrange(year, month)[1]
    base = start + 24 * np.arange(days)[:, None] + np.asarray(sorted(hours_utc))[None, :]
    return base.ravel().astype(np.int64)


def _set_time(h: int, hour: int) -> None:
    when = dt.datetime(1970, 1, 1) + dt.timedelta(hours=int(hour))
    eccodes.codes_set(h, "dataDate", int(when.strftime("%Y%m%d")))
    eccodes.codes_set(h, "dataTime", when.hour * 100)


def _handles(grid: CerraGrid, lat0: float, lon0: float, variables: list[CerraVar], forecast: bool) -> dict[str, int]:
    """One configured GRIB2 handle per variable (setting the parameter is slow: done once)."""
    template = _template(grid, lat0, lon0)
    handles = {}
    try:
        eccodes.codes_set(template, "typeOfProcessedData", 1 if forecast else 0)
        if forecast:
            eccodes.codes_set(template, "productDefinitionTemplateNumber", 8)
        for var in variables:
            h = eccodes.codes_clone(template)
            _set_param(h, var)
            if forecast:
                eccodes.codes_set(h, "stepType", "accum")
                eccodes.codes_set(h, "startStep", 0)
                eccodes.codes_set(h, "endStep", 3)
            handles[var.short] = h
    finally:
        eccodes.codes_release(template)
    return handles


def _write(path: str | Path, handles: dict[str, int], variables: list[CerraVar], base: np.ndarray, values) -> None:
    try:
        with open(path, "wb") as out:
            for t, hour in enumerate(base):
                for var in variables:
                    h = handles[var.short]
                    _set_time(h, hour)
                    eccodes.codes_set_values(h, values(var, t).astype(np.float64).ravel())
                    eccodes.codes_write(h, out)
    finally:
        for h in handles.values():
            eccodes.codes_release(h)


def write_analysis(path: str | Path, world, year: int, month: int, variables: list[CerraVar], hours_utc: list[int]) -> None:
    """The month's analysis file: all variables at each analysis time."""
    grid, lat, lon, points = _grid_points(world)
    base = _month_base_hours(year, month, hours_utc)
    weather = Weather(points, base)
    fields = {v.short: weather.get(v.source) * np.float32(v.scale) for v in variables}
    handles = _handles(grid, lat[0, 0], lon[0, 0], variables, forecast=False)
    _write(path, handles, variables, base, lambda var, t: fields[var.short][t])


def write_forecast(path: str | Path, world, year: int, month: int, variables: list[CerraVar], hours_utc: list[int]) -> None:
    """The month's forecast file: 3-hour accumulations after each base time (tp: kg m-2)."""
    grid, lat, lon, points = _grid_points(world)
    base = _month_base_hours(year, month, hours_utc)
    hourly = np.unique(np.concatenate([base + k for k in (1, 2, 3)]))
    weather = Weather(points, hourly)
    totals = {}
    for var in variables:
        amounts = weather.get(var.source)
        totals[var.short] = sum(amounts[np.searchsorted(hourly, base + k)] for k in (1, 2, 3)) * np.float32(var.scale)
    handles = _handles(grid, lat[0, 0], lon[0, 0], variables, forecast=True)
    _write(path, handles, variables, base, lambda var, t: totals[var.short][t])
