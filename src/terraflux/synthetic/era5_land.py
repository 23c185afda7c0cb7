"""ERA5-Land from the synthetic world: the values of each file, written by :mod:`terraflux.sources.era5_land.write`.

Hourly: one file per month with the configured variables at the configured UTC hours, accumulated fields
accumulated from 00 UTC, NaN over sea; delivered as the CDS does (NetCDF4; GRIB1 with
``sources.era5_land.data_format: grib``; the zip of per-step-type files with ``synthetic.era5_land_zip``).
The last ``synthetic.era5t_months`` months of the period carry the preliminary ``expver`` '0005'.

Daily statistics: one zip per month of per-variable files holding the daily mean, minimum or maximum of the
hourly values (accumulated variables: of the hourly amounts).
"""

from __future__ import annotations

import calendar
import datetime as dt
from pathlib import Path

from terraflux.sources.era5_land import FINAL, PRELIMINARY, Variable, write
from terraflux.synthetic.weather import Weather

import numpy as np


def month_hours(year: int, month: int) -> np.ndarray:
    """Valid times of a month's request (days 1..n, 00..23 UTC), int64 hours since 1970."""
    start = (dt.datetime(year, month, 1) - dt.datetime(1970, 1, 1)).days * 24
    return np.arange(start, start + 24 * calendar.monthrange(year, month)[1], dtype=np.int64)


def accumulate_from_midnight(first_hour: int, amounts: np.ndarray) -> np.ndarray:
    """Accumulate hourly amounts [T, ...] (amount of the hour ending at first_hour + t) from 00 UTC:
    each valid time gets the sum since the previous 00 UTC (exclusive); 00 UTC closes the day."""
    hours = first_hour + np.arange(amounts.shape[0])
    day = (hours - 1) // 24
    total = np.cumsum(amounts, axis=0, dtype=np.float64)
    start = np.searchsorted(day, day, side="left")
    before = np.where(start[:, None] > 0, total[np.maximum(start - 1, 0)].reshape(len(hours), -1), 0.0)
    return (total.reshape(len(hours), -1) - before).reshape(amounts.shape).astype(np.float32)


def era5_fields(world, hours: np.ndarray, variables: list[Variable]) -> dict[str, np.ndarray]:
    """The configured variables at valid ``hours`` on the ERA5-Land grid, as the files hold them:
    float32 [T, ny, nx], accumulated from 00 UTC, NaN over sea."""
    grid = world.era5_grid
    points = world.points("era5_land", *grid.mesh())
    accum = any(v.step_type == "accum" for v in variables)
    first = int(hours[0]) - (23 if accum else 0)
    span = np.arange(first, int(hours[-1]) + 1, dtype=np.int64)
    weather = Weather(points, span)
    sea = ~world.land_mask
    keep = np.searchsorted(span, hours)
    out = {}
    for var in variables:
        values = weather.get(var.short).reshape((span.size,) + grid.shape)
        if var.step_type == "accum":
            values = accumulate_from_midnight(first, values)
        values = values[keep]
        values[:, sea] = np.nan
        out[var.short] = values
    return out


def expver_for(world, year: int, month: int, n: int) -> list[str]:
    """The preliminary code (ERA5T) for the last ``synthetic.era5t_months`` months of the period, else final."""
    last = world.spec.years[-1] * 12 + 11
    months_left = last - (year * 12 + month - 1)
    return [PRELIMINARY if months_left < int(world.spec.knobs["era5t_months"]) else FINAL] * n


def write_hourly_month(
    path: str | Path,
    world,
    year: int,
    month: int,
    variables: list[Variable],
    hours_utc: list[int],
    *,
    data_format: str,
    as_zip: bool,
) -> None:
    """The month's hourly file: the configured variables at the configured UTC hours (see the module doc)."""
    hours = month_hours(year, month)
    hours = hours[np.isin(hours % 24, hours_utc)]
    fields = era5_fields(world, hours, variables)
    grid = world.era5_grid
    write.hourly_month(
        path,
        grid.lat,
        grid.lon,
        hours,
        expver_for(world, year, month, len(hours)),
        [(v, fields[v.short]) for v in variables],
        write.delivery_time(year, month),
        data_format=data_format,
        as_zip=as_zip,
    )


def daily_statistic(world, year: int, month: int, var: Variable, statistic: str) -> np.ndarray:
    """Daily mean/min/max [days, ny, nx] of hourly values (accumulated variables: hourly amounts)."""
    hours = month_hours(year, month)
    grid = world.era5_grid
    shift = 1 if var.step_type == "accum" else 0  # amounts of hours 00-01 .. 23-24 end at 01 .. 24
    weather = Weather(world.points("era5_land", *grid.mesh()), hours + shift)
    values = weather.get(var.short).reshape((len(hours) // 24, 24) + grid.shape)
    reduce = {"daily_mean": np.mean, "daily_minimum": np.min, "daily_maximum": np.max}[statistic]
    out = reduce(values, axis=1).astype(np.float32)
    out[:, ~world.land_mask] = np.nan
    return out


def write_daily_zip(
    path: str | Path, world, year: int, month: int, variables: list[Variable], statistic: str, tmpdir: Path
) -> None:
    """The month's daily-statistics zip (one file per variable, written in ``tmpdir`` first)."""
    days = month_hours(year, month)[::24]
    grid = world.era5_grid
    fields = [(var, daily_statistic(world, year, month, var, statistic)) for var in variables]
    write.daily_zip(
        path,
        grid.lat,
        grid.lon,
        days * 3600,
        expver_for(world, year, month, len(days)),
        fields,
        statistic,
        write.delivery_time(year, month),
        tmpdir,
    )
