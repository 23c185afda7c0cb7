"""Generated ERA5-Land hourly files in the CDS layouts (for the prepare benchmarks and tests).

Not the synthetic world (that is ``terraflux.synthetic``): a small, fast source of files with a known,
closed-form content, so that tests can compare prepared values with the truth. The files are written by
:mod:`terraflux.sources.era5_land.write` in either layout:

- ``netcdf4``: the new CDS (:func:`terraflux.sources.era5_land.write.netcdf`);
- ``netcdf3``: the old CDS (``time`` hours since 1900-01-01, int16 packed with scale/offset).

Content per variable at hour t (K, m, J m-2 ...): see :func:`hourly_truth`. Accumulated fields are written
accumulated from 00 UTC (the 00 UTC value holds the previous day's total).
"""

from __future__ import annotations

from pathlib import Path

from terraflux.sources import era5_land
from terraflux.sources.era5_land import write

import numpy as np
import pandas as pd


def grid(ny: int, nx: int, north: float = 48.0, west: float = 8.0, step: float = 0.1):
    """Latitude (descending) and longitude of a regular grid."""
    return np.round(north - step * np.arange(ny), 4), np.round(west + step * np.arange(nx), 4)


def sea(ny: int, nx: int) -> np.ndarray:
    """A fixed sea mask (True = sea, NaN in the files): the south-east corner."""
    yy, xx = np.mgrid[:ny, :nx]
    return (yy > 0.7 * ny) & (xx > 0.7 * nx)


def hourly_truth(name: str, times: pd.DatetimeIndex, ny: int, nx: int) -> np.ndarray:
    """Hourly values ``[T, Y, X]`` float32: instantaneous values, or the increment over the hour ending at t."""
    doy = times.day_of_year.to_numpy()[:, None, None]
    hour = times.hour.to_numpy()[:, None, None]
    yy, xx = np.mgrid[:ny, :nx]
    yy = yy[None] / max(ny, 1)
    xx = xx[None] / max(nx, 1)
    season = np.sin(2 * np.pi * (doy - 100) / 365.25)
    diurnal = np.sin(2 * np.pi * (hour - 9) / 24)
    if name == "t2m":
        out = 280 + 10 * season + 4 * diurnal - 5 * yy + 2 * xx
    elif name == "d2m":
        out = 276 + 8 * season + 1 * diurnal - 5 * yy + 2 * xx
    elif name == "tp":
        out = 1e-4 * (1 + np.cos(doy / 3.0 + 7 * xx)) * (1 + np.sin(hour / 4.0 + 3 * yy))
    elif name == "ssrd":
        out = 3.6e6 * np.clip(diurnal, 0, None) * (0.6 + 0.4 * season) * (1 + 0.1 * xx)
    elif name == "swvl1":
        out = 0.3 + 0.05 * season + 0.02 * yy + 0.0 * hour
    elif name == "sp":
        out = 95000 + 500 * season - 2000 * yy + 10 * diurnal
    else:
        raise KeyError(name)
    return np.broadcast_to(out, (len(times), ny, nx)).astype(np.float32)


def month_times(year: int, month: int, hours=range(24)) -> pd.DatetimeIndex:
    start = pd.Timestamp(year, month, 1)
    times = pd.date_range(start, start + pd.offsets.MonthBegin(1), freq="h", inclusive="left")
    return times[np.isin(times.hour, list(hours))]


def file_values(name: str, times: pd.DatetimeIndex, ny: int, nx: int) -> np.ndarray:
    """What the CDS file holds at ``times``: accumulations from 00 UTC for accumulated fields."""
    if name not in era5_land.ACCUMULATED:
        values = hourly_truth(name, times, ny, nx).copy()
    else:
        # A(t) = sum of the increments of the hours ending in (floor_day(t - 1 h), t]
        hour = pd.Timedelta(hours=1)
        ends = pd.date_range((times[0] - hour).floor("D") + hour, times[-1], freq="h")
        inc = hourly_truth(name, ends, ny, nx).astype(np.float64)
        day = (ends - hour).floor("D")
        total = np.cumsum(inc, axis=0)
        first = np.r_[True, day[1:] != day[:-1]]
        before = np.maximum.accumulate(np.where(first, np.arange(len(ends)), 0))  # index of each day's first hour
        acc = total - (total[before] - inc[before])
        values = acc[ends.get_indexer(times)].astype(np.float32)
    values[:, sea(ny, nx)] = np.nan
    return values


def write_month(
    path: str | Path,
    year: int,
    month: int,
    variables=("t2m", "d2m", "tp"),
    ny: int = 6,
    nx: int = 8,
    layout: str = "netcdf4",
    times: pd.DatetimeIndex | None = None,
    expver: list[str] | None = None,
    north: float = 48.0,
    west: float = 8.0,
) -> Path:
    """Write one month (or the given ``times``) of hourly ERA5-Land in a CDS layout; return the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    times = month_times(year, month) if times is None else times
    lat, lon = grid(ny, nx, north, west)
    fields = [(era5_land.BY_SHORT[name], file_values(name, times, ny, nx)) for name in variables]
    if layout == "netcdf4":
        seconds = (times - pd.Timestamp("1970-01-01")) // pd.Timedelta(seconds=1)
        codes = expver or [era5_land.FINAL] * len(times)
        write.netcdf(path, lat, lon, np.asarray(seconds), codes, fields, write.delivery_time(year, month))
    else:
        hours = (times - pd.Timestamp("1900-01-01")) // pd.Timedelta(hours=1)
        write.netcdf3(path, lat, lon, np.asarray(hours), fields)
    return path
