"""ERA5-Land hourly (or daily-statistics) monthly files -> daily, weekly and monthly zarr stores, streaming.

Design (bounded memory, one read of every input): the three stores are created empty first; a pool of
``workers`` processes each reads one whole month (one variable at a time, netCDF chunk cache small) and
returns that month's reductions: daily values, partial weekly moments and the monthly block means. The
parent writes them in month order, one whole zarr chunk at a time (:class:`~.stores.TimeChunkWriter`), so at
most ``2 x workers`` months are in flight whatever the number of files.

Per month and variable (``[T, Y, X]`` hourly -> ``[D, Y, X]`` daily):

- instantaneous fields: daily mean of the hours 00..23 of the day;
- accumulated fields (``tp``, ``ssrd``, ``e``, ...) accumulate from 00 UTC and the 00 UTC value holds the
  whole previous day: hourly increments are ``A(h) - A(h-1)`` (``A(1)`` at 01 UTC), the daily total of day d is
  the value at 00 UTC of day d+1 (read from the next month's file for the last day). The first record of a
  file belongs to the previous month. Without a next file (end of the period) the last day's total is the
  sum of its 23 increments scaled by 24/23 (recorded in the ``extrapolated_last_day`` attribute). Daily
  values are totals per day (``m d-1``, ``J m-2 d-1``); weekly mean/std of the hourly increments are
  expressed as rates per day (x 24) so that they match the daily product's units;
- ``vpd`` (hPa) from hourly ``t2m`` and ``d2m`` (:func:`vpd_hpa`), then treated as instantaneous.

The daily-statistics product (``product="daily"``) gives one value per day; its accumulated fields are a
statistic of the hourly amounts, scaled by 24 to the same per-day units; weekly statistics are then of the
daily values, and ``vpd`` comes from the daily ``t2m`` and ``d2m``.

Every month, cropped to the region (:func:`~.grid.crop`), must lie on the first month's grid, else the job stops
naming the file, its grid and the expected one (:func:`~.grid.check_same_grid`).

Weekly statistics follow :mod:`.weeks`; ``{v}_mean_clim`` / ``{v}_std_clim`` are the per-pixel, per-week mean
and standard deviation over the training years of ``{v}_mean``. Monthly values are means of daily values,
then block means over land on the model grid (:func:`~.grid.block_mean`).
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterable, Mapping, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field, replace
from pathlib import Path

from terraflux.errors import DataError
from terraflux.outputs import jsonable
from terraflux.prepare import grid, parts, plausibility, stores, weekly, weeks
from terraflux.prepare.moments import Moments
from terraflux.prepare.parallel import ordered_map
from terraflux.sources.era5_land import ACCUMULATED, short_name
from terraflux.sources.era5_land import read as reader
from terraflux.sources.formats.netcdf import small_chunk_cache

import numpy as np
import pandas as pd
import zarr

log = logging.getLogger(__name__)

HOUR = np.timedelta64(1, "h")
DAY = np.timedelta64(1, "D")

DAILY_UNITS = {"tp": "m d-1", "e": "m d-1", "pev": "m d-1", "ro": "m d-1"}
CHUNKS = {
    "daily": {"time": 32, "latitude": 64, "longitude": 64},
    "weekly": weekly.CHUNKS,
    "monthly": {"latitude": 16, "longitude": 16},
}
STORES = ("daily", "weekly", "monthly")


def vpd_hpa(t2m: np.ndarray, d2m: np.ndarray) -> np.ndarray:
    """Vapour-pressure deficit (hPa) from 2 m temperature and dewpoint (K): e_s(T) - e_s(Td), >= 0.

    Saturation vapour pressure over water after the IFS (Tetens with Buck's coefficients):
    e_s = 6.1121 exp(17.502 (T - 273.16) / (T - 32.19)) hPa.
    """

    def es(t):
        t = np.asarray(t, dtype=np.float32)
        out = t - np.float32(273.16)
        out *= np.float32(17.502)
        out /= t - np.float32(32.19)
        np.exp(out, out=out)
        return out

    def slab(t, d):
        vpd = es(t)
        vpd -= es(d)
        vpd *= np.float32(6.1121)
        return np.maximum(vpd, np.float32(0.0), out=vpd)

    t2m, d2m = np.asarray(t2m), np.asarray(d2m)
    if t2m.ndim < 2 or t2m.shape != d2m.shape:
        return slab(t2m, d2m)
    # a few time steps at a time: the temporaries stay in the CPU cache (about 1.5x faster on a month)
    step = max(1, (1 << 18) // max(1, int(np.prod(t2m.shape[1:]))))
    out = np.empty(t2m.shape, np.float32)
    for start in range(0, len(t2m), step):
        out[start : start + step] = slab(t2m[start : start + step], d2m[start : start + step])
    return out


def daily_units(name: str, units: str | None) -> str:
    """Units of the daily value of a variable (accumulated fields become totals per day)."""
    if name in DAILY_UNITS:
        return DAILY_UNITS[name]
    if name in ACCUMULATED:
        return f"{units} d-1" if units else "d-1"
    return units or ""


@dataclass
class MonthTask:
    """One month to reduce: its file(s), the next month's file(s) (for the last day's accumulations)."""

    year: int
    month: int
    paths: list[str]
    next_paths: list[str]
    product: str


@dataclass
class MonthResult:
    year: int
    month: int
    days: np.ndarray  # [D] datetime64[D]
    daily: dict[str, np.ndarray]  # name -> [D, Y, X] float32
    weekly: dict[int, dict[str, Moments]]  # global week index -> name -> moments of [Y, X]
    monthly: dict[str, np.ndarray]  # name -> [NY, NX] float32 (model grid)
    land: np.ndarray  # [Y, X] bool
    units: dict[str, str]
    era5t_hours: int
    era5t_replaced_hours: int
    extrapolated_last_day: list[str]


@dataclass
class Settings:
    """What every worker needs (picklable)."""

    variables: list[str]  # short names in the files
    region: dict
    factor: int
    start_year: int
    hours: list[int]
    strict: bool
    checks: plausibility.Checks = field(default_factory=lambda: plausibility.for_source("era5_land"))
    grid: dict[str, np.ndarray] | None = None  # latitude, longitude every month must have after cropping
    grid_source: str = ""  # the file(s) that grid comes from


def _segments(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Unique sorted keys and the start offset of each run (``keys`` sorted)."""
    starts = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]])
    return keys[starts], starts


def daily_moments(values: np.ndarray, day_of: np.ndarray) -> tuple[np.ndarray, Moments]:
    """Per-day moments of ``values[T, Y, X]`` (``day_of[T]`` sorted) -> (days ``[D]``, moments of ``[D, Y, X]``).

    Fast path when every day has the same number of steps: one reshape, float32 mean, float32 squared
    deviations (values within a day are close, so float32 is exact enough); a day with a NaN step is NaN.
    One day at a time, so that the temporaries stay in the CPU cache (2x faster than whole-month arrays).
    """
    unique, starts = _segments(day_of)
    lengths = np.diff(np.r_[starts, len(day_of)])
    if (lengths == lengths[0]).all():
        steps = int(lengths[0])
        blocks = values.reshape(len(unique), steps, *values.shape[1:])
        mean = np.empty((len(unique), *values.shape[1:]), np.float32)
        m2 = np.empty_like(mean)
        dev = np.empty(blocks.shape[1:], np.float32)
        for day, block in enumerate(blocks):
            np.add.reduce(block, axis=0, dtype=np.float32, out=mean[day])
            mean[day] /= np.float32(steps)
            np.subtract(block, mean[day], out=dev)
            m2[day] = np.einsum("h...,h...->...", dev, dev)
        n = np.where(np.isfinite(mean), steps, 0)
        return unique, Moments(n, mean.astype(np.float64), m2.astype(np.float64))
    ends = np.r_[starts[1:], len(day_of)]
    parts = [Moments.of(values[a:b], axis=0) for a, b in zip(starts, ends, strict=True)]
    return unique, Moments(*(np.stack([getattr(p, k) for p in parts]) for k in ("n", "mean", "m2")))


def weekly_moments(days: np.ndarray, daily: Moments, start_year: int, scale: float = 1.0) -> dict[int, Moments]:
    """Combine per-day moments ``[D, Y, X]`` into per-week partial moments ``{week index: [Y, X]}``."""
    keys = weeks.week_index(days, start_year)
    out = {}
    unique, starts = _segments(keys)
    for key, a, b in zip(unique, starts, np.r_[starts[1:], len(keys)], strict=True):
        n, mean, m2 = daily.n[a:b], np.nan_to_num(daily.mean[a:b]), daily.m2[a:b]
        total = n.sum(axis=0)
        with np.errstate(invalid="ignore", divide="ignore"):
            wmean = np.where(total > 0, (n * mean).sum(axis=0) / np.maximum(total, 1), np.nan)
            dev = mean - np.nan_to_num(wmean)
            wm2 = np.where(n > 0, m2 + n * dev * dev, 0.0).sum(axis=0)
        out[int(key)] = Moments(total, wmean * scale, wm2 * scale * scale)
    return out


def check_times(times: np.ndarray, task: MonthTask, settings: Settings, source: str) -> None:
    """Stop unless the ``times`` [T] of ``source`` all lie in the month of ``task`` and, with ``settings.strict``,
    hold every hour in ``settings.hours`` (hourly) or every day (daily) of it."""
    start = np.datetime64(f"{task.year:04d}-{task.month:02d}-01T00")
    end = (pd.Timestamp(start) + pd.offsets.MonthBegin(1)).to_datetime64()
    inside = (times >= start - HOUR * 0) & (times <= end)
    if not inside.all():
        bad = pd.Timestamp(times[~inside][0])
        raise DataError(
            f"{source}: holds time {bad:%Y-%m-%d %H:%M} outside {task.year}-{task.month:02d}; "
            "the file does not belong to this month. Delete it and rerun its download"
        )
    if settings.strict and task.product == "hourly":
        expected = pd.date_range(start, end, freq="h", inclusive="left")
        expected = expected[np.isin(expected.hour, settings.hours)]
        missing = expected.difference(pd.DatetimeIndex(times))
        if len(missing):
            raise DataError(
                f"{source}: {len(missing)} of {len(expected)} hourly steps of {task.year}-{task.month:02d} are missing "
                f"(first {missing[0]:%Y-%m-%d %H:%M}); the month is incomplete. Delete the file and rerun its download"
            )
    if settings.strict and task.product == "daily":
        expected = pd.date_range(start, end, freq="D", inclusive="left")
        missing = expected.difference(pd.DatetimeIndex(times))
        if len(missing):
            raise DataError(
                f"{source}: {len(missing)} days of {task.year}-{task.month:02d} are missing; rerun its download"
            )


def check_grid(ds, source: str, settings: Settings) -> None:
    """The cropped month must be on the first month's grid (:func:`~.grid.check_same_grid`)."""
    if settings.grid is None:
        return
    coords = {name: ds[name].values for name in ("latitude", "longitude")}
    grid.check_same_grid(
        source,
        coords,
        settings.grid,
        settings.grid_source,
        "every month must be downloaded with the same config `region` (`area`) from the same product. Delete this "
        "file and rerun its download",
    )


def land_mask(first: np.ndarray, last: np.ndarray, name: str, source: str) -> np.ndarray:
    """The month's land mask ``[Y, X]``: points where variable ``name`` of ``source`` has data at the first or the
    last time step (``first``, ``last``; ERA5-Land has no data over sea). Stops when no point has data."""
    land = np.isfinite(first) | np.isfinite(last)
    plausibility.require_any(land, source, f"{name} data (the land mask)")
    return land


def reduce_month(task: MonthTask, settings: Settings) -> MonthResult:
    """Read one month once and reduce it to daily values, weekly partial moments and monthly block means."""
    small_chunk_cache()
    source = ", ".join(task.paths)
    month_start = np.datetime64(f"{task.year:04d}-{task.month:02d}-01")
    month_end = (pd.Timestamp(month_start) + pd.offsets.MonthBegin(1)).to_datetime64().astype("datetime64[D]")
    days = np.arange(month_start, month_end, DAY)
    hourly = task.product == "hourly"
    accumulated = [v for v in settings.variables if v in ACCUMULATED] if hourly else []
    daily: dict[str, np.ndarray] = {}
    week_parts: dict[int, dict[str, Moments]] = {}
    monthly: dict[str, np.ndarray] = {}
    units: dict[str, str] = {}
    extrapolated: list[str] = []

    with ExitStack() as stack:
        opener = reader.open_hourly if hourly else reader.open_daily
        ds = grid.crop(stack.enter_context(opener(task.paths, settings.variables)), settings.region, source)
        check_grid(ds, source, settings)
        times = ds["time"].values.astype("datetime64[ns]")
        check_times(times, task, settings, source)
        nxt = None
        if accumulated and task.next_paths:
            nds = stack.enter_context(reader.open_hourly(task.next_paths, accumulated))
            nds = grid.crop(nds, settings.region, ", ".join(task.next_paths))
            check_grid(nds, ", ".join(task.next_paths), settings)
            first = np.datetime64(month_end, "ns")
            if first in nds["time"].values:
                nxt = nds.sel(time=[first])
        land = None
        cache: dict[str, np.ndarray] = {}

        def store(name: str, day_of: np.ndarray, values: np.ndarray, scale: float = 1.0, total: bool = False) -> None:
            """Daily values (means, or totals per day) and weekly moments (x ``scale``) of ``values[T, Y, X]``."""
            unique, moments = daily_moments(values, day_of)
            day_values = np.full((len(days), *values.shape[1:]), np.nan, np.float32)
            per_day = moments.mean * (24.0 if total else 1.0)
            day_values[(unique - month_start).astype(int)] = per_day
            daily[name] = day_values
            for key, mom in weekly_moments(unique, moments, settings.start_year, scale).items():
                week_parts.setdefault(key, {})[name] = mom

        for name in settings.variables:
            var = ds[name]
            units[name] = daily_units(name, var.attrs.get("units"))
            values = var.values
            if values.dtype != np.float32:
                values = values.astype(np.float32)
            plausibility.check(values, name, source, settings.checks)
            if land is None:
                land = land_mask(values[0], values[-1], name, source)
            if name in accumulated:
                # Records ending in (month start, month end]: increments belong to the day of (t - 1 h).
                first = int(np.searchsorted(times, np.datetime64(month_start, "ns"), side="right"))
                t = times[first:]
                if nxt is not None:
                    t = np.concatenate([t, nxt["time"].values.astype("datetime64[ns]")])
                hour = pd.DatetimeIndex(t).hour.to_numpy()
                usable = (hour == 1) | np.r_[False, np.diff(t) == HOUR]
                if not usable.all() and settings.strict:
                    raise DataError(f"{source}: accumulated {name} needs every hour of the day to be de-accumulated")
                # increments without copying the month: inc[i] = A[i] - A[i-1], A[i] at 01 UTC
                inc = np.empty((len(t), *values.shape[1:]), np.float32)
                inc[0] = values[first]
                np.subtract(values[first + 1 :], values[first:-1], out=inc[1 : len(values) - first])
                if nxt is not None:
                    np.subtract(nxt[name].values[0], values[-1], out=inc[-1])
                ones = np.flatnonzero(hour == 1)
                inc[ones] = values[
                    first + ones
                ]  # 01 UTC records all lie in this file (the next file adds a 00 UTC one)
                inc[~usable] = np.nan
                day_of = (t - HOUR).astype("datetime64[D]")
                if nxt is None and (day_of == day_of[-1]).sum() == 23:
                    extrapolated.append(name)  # the mean of 23 increments x 24 stands for the day's total
                # daily total = mean hourly increment x 24; weekly statistics as rates per day (x 24)
                store(name, day_of, inc, scale=24.0, total=True)
                del inc
            elif not hourly and name in ACCUMULATED:
                # daily-statistics product: statistic of the hourly amounts (m per hour) -> per day (x 24)
                store(name, times.astype("datetime64[D]"), values, scale=24.0, total=True)
            else:
                store(name, times.astype("datetime64[D]"), values)
                if name in ("t2m", "d2m"):
                    cache[name] = values
            del values
        if "t2m" in cache and "d2m" in cache:
            store("vpd", times.astype("datetime64[D]"), vpd_hpa(cache.pop("t2m"), cache.pop("d2m")))
            units["vpd"] = "hPa"
        era5t = int(ds.attrs.get("era5t_hours", 0)), int(ds.attrs.get("era5t_replaced_hours", 0))

    for name, values in daily.items():
        with np.errstate(invalid="ignore"), _quiet():
            monthly[name] = grid.block_mean(np.nanmean(values, axis=0), land, settings.factor)
    return MonthResult(task.year, task.month, days, daily, week_parts, monthly, land, units, *era5t, extrapolated)


class _quiet:
    def __enter__(self):
        import warnings

        self._ctx = warnings.catch_warnings()
        self._ctx.__enter__()
        warnings.simplefilter("ignore", RuntimeWarning)

    def __exit__(self, *exc):
        return self._ctx.__exit__(*exc)


def month_tasks(
    files: Mapping[tuple[int, int], Sequence[str]], start_year: int, end_year: int, product: str
) -> list[MonthTask]:
    """One task per month of ``start_year``..``end_year``; a missing month is a DataError naming it. The month
    after the last one (its first record closes the last day's accumulations) is used when ``files`` has it."""
    tasks = []
    months = [(y, m) for y in range(start_year, end_year + 1) for m in range(1, 13)]
    for year, month in months:
        paths = files.get((year, month))
        if not paths:
            raise DataError(
                f"ERA5-Land {product} data for {year}-{month:02d} is missing (no file given for that month); "
                "rerun the acquire step for it or shorten config `period`"
            )
        for path in paths:
            if not Path(path).exists():
                raise DataError(f"{path}: missing (ERA5-Land {year}-{month:02d}); rerun the acquire step for it")
        nxt = files.get((year + month // 12, month % 12 + 1), [])  # the next month's, when given
        tasks.append(MonthTask(year, month, [str(p) for p in paths], [str(p) for p in nxt], product))
    return tasks


def _grid_of(task: MonthTask, settings: Settings) -> tuple[np.ndarray, np.ndarray, dict]:
    opener = reader.open_hourly if task.product == "hourly" else reader.open_daily
    with opener(task.paths, settings.variables) as ds:
        ds = grid.crop(ds, settings.region, ", ".join(task.paths))
        attrs = {name: dict(ds[name].attrs) for name in settings.variables}
        return ds["latitude"].values.astype(np.float64), ds["longitude"].values.astype(np.float64), attrs


def _cf_attrs(name: str, source_attrs: Mapping, units: str) -> dict:
    attrs = {
        k: v for k, v in source_attrs.items() if k in ("long_name", "standard_name", "GRIB_paramId", "GRIB_shortName")
    }
    if attrs.get("standard_name") == "unknown":
        attrs.pop("standard_name")
    if name == "vpd":
        attrs = {"long_name": "vapour pressure deficit (from t2m and d2m)"}
    attrs["units"] = units
    return jsonable(attrs)


LAYOUT = "layout.json"


def _period(period: Mapping) -> tuple[int, int, list[int]]:
    """(start_year, end_year, train years) of config ``period``; stops when no training year lies in it."""
    start_year, end_year = int(period["start_year"]), int(period["end_year"])
    train = sorted(int(y) for y in period["train_years"])
    if not any(start_year <= y <= end_year for y in train):
        raise DataError(
            f"config `period.train_years` {train} has no year in {start_year}..{end_year}: statistics need one"
        )
    return start_year, end_year, train


def _settings(variables, region, period, factor, hours=(), strict=True, plausible=None) -> Settings:
    checks = plausibility.for_source("era5_land", plausible)
    short = [short_name(v) for v in variables]
    return Settings(short, dict(region), int(factor), int(period["start_year"]), list(hours), strict, checks)


def _names(short: Sequence[str]) -> list[str]:
    """The store's variables: the short names, plus ``vpd`` when ``t2m`` and ``d2m`` are read."""
    return list(short) + (["vpd"] if {"t2m", "d2m"} <= set(short) else [])


def init_era5_land(
    first_month: Sequence[str],
    *,
    stores_dir: str | Path,
    variables: Iterable[str],
    region: Mapping,
    period: Mapping,
    factor: int,
    product: str,
) -> None:
    """Create the empty daily, weekly and monthly stores (``daily.zarr``, ... in ``stores_dir``) for the period.

    ``first_month``: the file(s) of the period's first month, whose grid (cropped to ``region``) and variable
    attributes the stores take; other arguments as :func:`prepare_era5_land`. Also writes ``layout.json``
    (the store variables and the grid's source, for the parts).
    """
    start_year, end_year, _ = _period(period)
    settings = _settings(variables, region, period, factor)
    first = MonthTask(start_year, 1, [str(p) for p in first_month], [], product)
    lat, lon, source_attrs = _grid_of(first, settings)
    names = _names(settings.variables)
    days = pd.date_range(f"{start_year}-01-01", f"{end_year}-12-31", freq="D")
    months = pd.date_range(f"{start_year}-01-01", f"{end_year}-12-01", freq="MS")
    cell_lat, cell_lon = grid.model_grid(lat, lon, settings.factor)
    units0 = {n: daily_units(n, source_attrs.get(n, {}).get("units")) for n in settings.variables}
    units0["vpd"] = "hPa"
    attrs = {n: _cf_attrs(n, source_attrs.get(n, {}), units0[n]) for n in names}
    space = {
        "latitude": (("latitude",), lat, {"units": "degrees_north", "standard_name": "latitude"}),
        "longitude": (("longitude",), lon, {"units": "degrees_east", "standard_name": "longitude"}),
    }
    cells = {
        "latitude": (("latitude",), cell_lat, {"units": "degrees_north", "standard_name": "latitude"}),
        "longitude": (("longitude",), cell_lon, {"units": "degrees_east", "standard_name": "longitude"}),
    }
    common = {
        "source": f"ERA5-Land {product} (Copernicus Climate Change Service)",
        "region": dict(region),
        "product": product,
    }
    dims = ("time", "latitude", "longitude")
    stores_dir = Path(stores_dir)
    stores_dir.mkdir(parents=True, exist_ok=True)
    stores.create(
        stores_dir / "daily.zarr",
        {"time": (("time",), days.values, {"standard_name": "time"}), **space},
        {
            **{n: stores.variable(dims, attrs[n]) for n in names},
            "land_mask": stores.variable(("latitude", "longitude"), {"long_name": "land (ERA5-Land has data)"}, bool),
        },
        CHUNKS["daily"],
        common,
    )
    weekly_vars = weekly.variables(attrs, ("latitude", "longitude"))
    weekly_vars["land_mask"] = stores.variable(("latitude", "longitude"), {"long_name": "land"}, bool)
    stores.create(
        stores_dir / "weekly.zarr",
        {**weekly.coords(start_year, end_year), **space},
        weekly_vars,
        weekly.CHUNKS,
        {**common, "week_convention": "week = min((doy - 1) // 7 + 1, 52); time = first day of the week"},
    )
    stores.create(
        stores_dir / "monthly.zarr",
        {"time": (("time",), months.values, {"standard_name": "time"}), **cells},
        {
            **{n: stores.variable(dims, attrs[n]) for n in names},
            "land_mask": stores.variable(("latitude", "longitude"), {"long_name": "cell holds ERA5-Land land"}, bool),
        },
        {"time": len(months), **CHUNKS["monthly"]},
        {**common, "model_grid_factor": settings.factor},
    )
    (stores_dir / LAYOUT).write_text(json.dumps({"names": names, "grid_source": ", ".join(first.paths)}))


def prepare_era5_land_part(
    files: Mapping[tuple[int, int], Sequence[str]],
    *,
    stores_dir: str | Path,
    years: tuple[int, int],
    variables: Iterable[str],
    region: Mapping,
    period: Mapping,
    factor: int,
    product: str,
    hours: Iterable[int],
    workers: int,
    strict: bool,
    plausible: Mapping | None = None,
    memory_mb: float | None = None,
) -> parts.Part:
    """Reduce the months of ``years`` ``(first, last)`` into the stores of ``stores_dir`` (:func:`init_era5_land`).

    ``files``: ``{(year, month): [paths]}`` for every month of those years, plus the month after (its first
    record closes the last day's accumulations) unless the period ends there. Writes every chunk that lies
    wholly inside the part's time region; returns the :class:`~.parts.Part` (the shared chunks' slices, the
    training months' statistics, ERA5T and extrapolation notes, the land mask) for
    :func:`finalise_era5_land`. ``memory_mb``: the job's memory; fewer than ``workers`` processes run when
    their months in flight (:func:`month_bytes`, :func:`~.parts.workers_within`) would not fit.
    """
    start_year, end_year, train = _period(period)
    first_year, last_year = years
    if not start_year <= first_year <= last_year <= end_year:
        raise DataError(f"part {first_year}..{last_year} is not inside config `period` {start_year}..{end_year}")
    stores_dir = Path(stores_dir)
    layout = json.loads((stores_dir / LAYOUT).read_text())
    names = layout["names"]
    dgroup, wgroup, mgroup = (zarr.open_group(str(stores_dir / f"{k}.zarr"), mode="r+") for k in STORES)
    settings = _settings(variables, region, period, factor, hours, strict, plausible)
    coords = {k: dgroup[k][:] for k in ("latitude", "longitude")}
    settings = replace(settings, grid=coords, grid_source=layout["grid_source"])
    tasks = month_tasks(files, first_year, last_year, product)
    day0 = pd.Timestamp(start_year, 1, 1)
    day_region = tuple((pd.Timestamp(y, 1, 1) - day0).days for y in (first_year, last_year + 1))
    month_region = (12 * (first_year - start_year), 12 * (last_year + 1 - start_year))
    dwriter = stores.TimeChunkWriter(dgroup, names, CHUNKS["daily"]["time"], dgroup["time"].shape[0], day_region)
    wwriter = weekly.WeeklyWriter(wgroup, names, start_year, end_year, years)
    total_months = mgroup["time"].shape[0]
    mwriter = stores.TimeChunkWriter(mgroup, names, total_months, total_months, month_region)
    record = {"moments": {n: [] for n in names}, "era5t_hours": 0, "era5t_replaced_hours": 0}
    record.update({"era5t_months": [], "extrapolated_last_day": {}})
    land = None
    day_offset = day_region[0]
    if memory_mb is not None:  # fewer workers when their months in flight would not fit
        per_month = month_bytes(len(coords["latitude"]) * len(coords["longitude"]), len(settings.hours) or 24)
        workers = parts.workers_within(memory_mb * 2**20, per_month, int(workers))
    for index, result in enumerate(ordered_map(reduce_month, tasks, max(1, int(workers)), settings)):
        if land is None:
            land = result.land
        dwriter.push(day_offset, result.daily)
        day_offset += len(result.days)
        mwriter.push(month_region[0] + index, {n: result.monthly[n][None] for n in names})
        if result.year in train:
            for n in names:
                mom = Moments.of(np.where(land, result.daily[n], np.nan).reshape(-1)[None, :], axis=1)
                record["moments"][n].append([int(mom.n[0]), float(mom.mean[0]), float(mom.m2[0])])
        wwriter.add(result.weekly, pd.Timestamp(result.days[-1]))
        record["era5t_hours"] += result.era5t_hours
        record["era5t_replaced_hours"] += result.era5t_replaced_hours
        if result.era5t_hours:
            record["era5t_months"].append(f"{result.year}-{result.month:02d}")
        if result.extrapolated_last_day:
            record["extrapolated_last_day"][f"{result.year}-{result.month:02d}"] = result.extrapolated_last_day
        log.info("ERA5-Land %d-%02d reduced", result.year, result.month)
    for writer in (dwriter, wwriter, mwriter):
        writer.close()
    edges = {"daily": dwriter.edges, "weekly": wwriter.edges, "monthly": mwriter.edges}
    return parts.Part(first_year, last_year, record, edges, {"land": land})


def finalise_era5_land(
    stores_dir: str | Path,
    done: Iterable[parts.Part],
    *,
    daily_path: str | Path,
    weekly_path: str | Path,
    monthly_path: str | Path,
    period: Mapping,
    factor: int,
    provenance: Mapping | None = None,
) -> dict:
    """Complete the stores of ``stores_dir`` from the ``done`` parts, which must tile the period, and move them
    to their paths: shared chunks, land masks, training-years statistics (per-variable ``mean``/``std``
    attributes) and weekly climatologies, the ``statistics``, ``era5t`` and ``extrapolated_last_day``
    attributes, consolidated metadata. Returns a summary (ERA5T hours, extrapolated days)."""
    start_year, end_year, train = _period(period)
    stores_dir = Path(stores_dir)
    names = json.loads((stores_dir / LAYOUT).read_text())["names"]
    done = parts.check_tiling(done, start_year, end_year)
    land = done[0].arrays["land"]
    for part in done[1:]:
        if not np.array_equal(part.arrays["land"], land):
            raise DataError(
                f"ERA5-Land {part.first}-01 has data on other points than {start_year}-01 (the land mask): every "
                "month must come from the same product and region. Rerun the downloads of the months that differ"
            )
    groups = {k: zarr.open_group(str(stores_dir / f"{k}.zarr"), mode="r+") for k in STORES}
    for key, group in groups.items():
        stores.write_edges(group, [piece for part in done for piece in part.edges.get(key, [])])
    dgroup, wgroup, mgroup = (groups[k] for k in STORES)
    for group in (dgroup, wgroup):
        group["land_mask"][:] = land
    mgroup["land_mask"][:] = grid.block_any(land, int(factor))

    # Statistics and climatology from the training years only.
    weekly.write_climatology(wgroup, names, train, start_year, end_year)
    month_years = np.repeat(np.arange(start_year, end_year + 1), 12)
    var_stats = {}
    for n in names:
        mom = None
        for part in done:
            for count, mean, m2 in part.record["moments"][n]:
                one = Moments(np.array([count], np.int64), np.array([mean]), np.array([m2]))
                mom = one if mom is None else mom.combine(one)
        train_monthly = mgroup[n][:][np.isin(month_years, train)]
        var_stats[n] = {
            "mean": float(np.nanmean(train_monthly)) if train_monthly.size else float("nan"),
            "std": float(np.nanstd(train_monthly)) if train_monthly.size else float("nan"),
            "daily_mean": float(mom.mean[0]) if mom is not None else float("nan"),
            "daily_std": float(mom.std()[0]) if mom is not None else float("nan"),
        }
        mgroup[n].attrs.update({"mean": var_stats[n]["mean"], "std": var_stats[n]["std"]})
        dgroup[n].attrs.update({"mean": var_stats[n]["daily_mean"], "std": var_stats[n]["daily_std"]})
    summary = {"era5t_hours": 0, "era5t_replaced_hours": 0, "era5t_months": [], "extrapolated_last_day": {}}
    for part in done:
        for key in ("era5t_hours", "era5t_replaced_hours", "era5t_months"):
            summary[key] += part.record[key]
        summary["extrapolated_last_day"].update(part.record["extrapolated_last_day"])
    record = {
        "provenance": dict(provenance or {}),
        "train_years": train,
        "statistics": var_stats,
        "era5t": {k: summary[k] for k in ("era5t_hours", "era5t_replaced_hours", "era5t_months")},
        "extrapolated_last_day": summary["extrapolated_last_day"],
    }
    for key in STORES:
        stores.finish(stores_dir / f"{key}.zarr", record)
    for key, final in zip(STORES, (daily_path, weekly_path, monthly_path), strict=True):
        parts.publish(stores_dir / f"{key}.zarr", final)
    return summary


def prepare_era5_land(
    files: Mapping[tuple[int, int], Sequence[str]],
    *,
    daily_path: str | Path,
    weekly_path: str | Path,
    monthly_path: str | Path,
    variables: Iterable[str],
    region: Mapping,
    period: Mapping,
    factor: int,
    product: str,
    hours: Iterable[int],
    workers: int,
    strict: bool,
    plausible: Mapping | None = None,
    provenance: Mapping | None = None,
    memory_mb: float | None = None,
) -> dict:
    """Build the daily, weekly and monthly stores from monthly files ``{(year, month): [paths]}`` in one process:
    :func:`init_era5_land`, one part of the whole period (:func:`prepare_era5_land_part`),
    :func:`finalise_era5_land`.

    ``variables``: CDS or short names; ``period``: start_year, end_year, train_years; ``factor``: model-grid
    block size (config ``prepare.model_grid_factor``); ``product``, ``hours``: config ``sources.era5_land``;
    ``strict``: config ``prepare.strict_months``; ``plausible``: config ``prepare.plausibility`` (None: the
    ranges of :data:`~terraflux.sources.era5_land.PLAUSIBLE`; :mod:`.plausibility`); ``memory_mb``: the job's
    memory (:func:`prepare_era5_land_part`). Every store is published
    by one rename when complete. Returns a summary (ERA5T hours, extrapolated days).
    """
    start_year, end_year, _ = _period(period)
    tasks = month_tasks(files, start_year, end_year, product)  # every month present before any work
    options = dict(variables=list(variables), region=region, period=period, factor=factor)
    with parts.staging_folder(daily_path, "era5_land_stores") as stores_dir:
        init_era5_land(tasks[0].paths, stores_dir=stores_dir, product=product, **options)
        part = prepare_era5_land_part(
            files,
            stores_dir=stores_dir,
            years=(start_year, end_year),
            product=product,
            hours=hours,
            workers=workers,
            strict=strict,
            plausible=plausible,
            memory_mb=memory_mb,
            **options,
        )
        return finalise_era5_land(
            stores_dir,
            [part],
            daily_path=daily_path,
            weekly_path=weekly_path,
            monthly_path=monthly_path,
            period=period,
            factor=factor,
            provenance=provenance,
        )


#: Hourly arrays of one month that a worker holds at its peak (:func:`reduce_month`): t2m and d2m kept for vpd,
#: the variable being reduced, its hourly increments (accumulated fields) or vpd, and the reader's buffers
#: (decoded values and their copy with NaN for missing points); bench/bench_scale.py measures it (docs/cluster.md).
MONTH_ARRAYS = 9
#: A worker process's memory besides its month (interpreter, numpy, xarray, netCDF and zarr libraries).
WORKER_BASE_BYTES = 256 * 2**20


def month_bytes(cells: int, hours: int = 24) -> int:
    """Peak memory of one worker reducing one month (31 days) of hourly data on ``cells`` grid points, ``hours``
    steps a day: :data:`MONTH_ARRAYS` float32 arrays ``[31 x hours, cells]`` plus :data:`WORKER_BASE_BYTES`. It
    does not depend on the number of variables (they are read one at a time) nor on a part's length."""
    return MONTH_ARRAYS * 31 * hours * cells * 4 + WORKER_BASE_BYTES


def workers_for(threads: int) -> int:
    """Worker processes for a job with ``threads`` CPU threads (the parent mostly waits)."""
    return max(1, min(int(threads), os.cpu_count() or 1))
