"""Generated ERA5-Land hourly files in the CDS layouts (for the prepare benchmarks and tests).

Not the synthetic world (that is ``terraflux.synthetic``): a small, fast writer of files with a known,
closed-form content, so that tests can compare prepared values with the truth. Layouts:

- ``netcdf4``: the new CDS (dims ``valid_time, latitude, longitude``; ``valid_time`` int64 seconds since
  1970; ``expver(valid_time)`` strings; scalar ``number``; float32, NaN fill, zlib 1 + shuffle, chunks
  (1, lat, lon); ``GRIB_*`` attributes);
- ``netcdf3``: the old CDS (``time`` hours since 1900-01-01, int16 packed with scale/offset).

Content per variable at hour t (K, m, J m-2 ...): see :func:`hourly_truth`. Accumulated fields are written
accumulated from 00 UTC (the 00 UTC value holds the previous day's total).
"""

from __future__ import annotations

from pathlib import Path

import netCDF4
import numpy as np
import pandas as pd

ATTRS = {
    "t2m": ("2 metre temperature", "K", "instant", 167, "2t"),
    "d2m": ("2 metre dewpoint temperature", "K", "instant", 168, "2d"),
    "tp": ("Total precipitation", "m", "accum", 228, "tp"),
    "ssrd": ("Surface short-wave (solar) radiation downwards", "J m**-2", "accum", 169, "ssrd"),
    "swvl1": ("Volumetric soil water layer 1", "m**3 m**-3", "instant", 39, "swvl1"),
    "sp": ("Surface pressure", "Pa", "instant", 134, "sp"),
}


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
    if ATTRS[name][2] != "accum":
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
    fmt = "NETCDF4" if layout == "netcdf4" else "NETCDF3_64BIT_OFFSET"
    with netCDF4.Dataset(path, "w", format=fmt) as nc:
        nc.Conventions = "CF-1.7"
        nc.institution = "European Centre for Medium-Range Weather Forecasts"
        tname = "valid_time" if layout == "netcdf4" else "time"
        nc.createDimension(tname, len(times))
        nc.createDimension("latitude", ny)
        nc.createDimension("longitude", nx)
        if layout == "netcdf4":
            number = nc.createVariable("number", "i8", ())
            number.long_name = "ensemble member numerical id"
            number.units = "1"
            number[...] = 0
            tv = nc.createVariable("valid_time", "i8", (tname,))
            tv.units = "seconds since 1970-01-01"
            tv.calendar = "proleptic_gregorian"
            tv[:] = (times - pd.Timestamp("1970-01-01")) // pd.Timedelta(seconds=1)
            ev = nc.createVariable("expver", str, (tname,))
            codes = expver or ["0001"] * len(times)
            for i, code in enumerate(codes):
                ev[i] = code
        else:
            tv = nc.createVariable("time", "i4", (tname,))
            tv.units = "hours since 1900-01-01 00:00:00.0"
            tv.calendar = "gregorian"
            tv[:] = (times - pd.Timestamp("1900-01-01")) // pd.Timedelta(hours=1)
        la = nc.createVariable("latitude", "f8" if layout == "netcdf4" else "f4", ("latitude",))
        la.units = "degrees_north"
        la[:] = lat
        lo = nc.createVariable("longitude", "f8" if layout == "netcdf4" else "f4", ("longitude",))
        lo.units = "degrees_east"
        lo[:] = lon
        for name in variables:
            long_name, units, step_type, param, grib_short = ATTRS[name]
            values = file_values(name, times, ny, nx)
            if layout == "netcdf4":
                var = nc.createVariable(
                    name, "f4", (tname, "latitude", "longitude"), zlib=True, complevel=1, shuffle=True,
                    chunksizes=(1, ny, nx), fill_value=np.float32(np.nan),
                )
                var.setncatts({
                    "GRIB_paramId": param, "GRIB_shortName": grib_short, "GRIB_stepType": step_type,
                    "GRIB_units": units, "long_name": long_name, "units": units, "standard_name": "unknown",
                    "coordinates": "number valid_time latitude longitude expver",
                })
                var[:] = values
            else:
                lo_v, hi_v = np.nanmin(values), np.nanmax(values)
                scale = (hi_v - lo_v) / 65000 if hi_v > lo_v else 1.0
                offset = (hi_v + lo_v) / 2
                var = nc.createVariable(name, "i2", (tname, "latitude", "longitude"), fill_value=np.int16(-32767))
                var.scale_factor = scale
                var.add_offset = offset
                var.units = units
                var.long_name = long_name
                var[:] = np.ma.masked_invalid(values)  # netCDF4 packs with scale/offset
    return path
