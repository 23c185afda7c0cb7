"""CERRA GRIB2 monthly files -> ``cerra_weekly.zarr`` (and optionally ``cerra_daily.zarr``) on the native Lambert
conformal grid, streaming.

Per month, the analysis file (3-hourly instantaneous fields) and optionally the forecast file (3-hour
accumulations such as ``tp``, kg m-2) are read once by one worker process (optionally cropped to a window
of grid indices before loading) and reduced to partial weekly moments; the parent writes whole weeks
(:class:`~.weekly.WeeklyWriter`); every file must lie on the first file's grid, else the job stops naming it
(:func:`~.grid.check_same_grid`). Weekly mean/std of accumulated fields are rates per day (value x 24 /
step hours, e.g. kg m-2 d-1). Store: ``{v}_mean``, ``{v}_std`` over ``(time, y, x)``, climatologies over
``(week_of_year, y, x)``, 2-D ``latitude``/``longitude``, ``x``/``y`` in metres, the Lambert CRS
(``spatial_ref``) and ``land_mask`` (CERRA has values over sea too: it marks points with data).
With a reprojection target (:class:`~.regrid.Target`) the native store is built in a staging folder and
reprojected to the target grid with rioxarray (:func:`~.regrid.reproject_weekly`). Built in one job
(:func:`prepare_cerra`) or in parts of whole years by independent jobs (:func:`init_cerra`,
:func:`prepare_cerra_part`, :func:`finalise_cerra`; :mod:`.parts`): the same store either way.

The daily store (when asked for: the downscaling pair ``cerra_daily``; native grid only) holds ``{v}`` over
``(time, y, x)``, one value per day: the mean of the day's eight 3-hourly analyses for instantaneous fields,
the day's total for accumulations (the mean 3-hour amount x 24 / step hours, kg m-2 d-1), with the days
assigned by valid time as in the weekly store; ``land_mask`` as above. Every day of the period must be
present.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

from terraflux.errors import ConfigError, DataError
from terraflux.prepare import grid, parts, plausibility, stores, weekly
from terraflux.prepare.era5_land import daily_moments, weekly_moments
from terraflux.prepare.moments import Moments
from terraflux.prepare.parallel import ordered_map
from terraflux.prepare.regrid import Target, reproject_weekly
from terraflux.sources.cerra.read import open_cerra, read_values
from terraflux.workflow.atomic import atomic_output

import numpy as np
import pandas as pd
import pyproj
import zarr

log = logging.getLogger(__name__)


DAILY_NATIVE_ONLY = (
    "the daily CERRA store (downscaling pair `cerra_daily`) is written on the native Lambert grid only: set "
    "`prepare.cerra.reproject_crs: none` or use `downscale.fine: cerra_weekly`"
)


@dataclass
class CerraMonth:
    year: int
    month: int
    paths: list[str]


def window(ds, crop):
    """``ds`` (:func:`open_cerra`) cut to config ``prepare.cerra.crop`` ``[x0, x1, y0, y1]`` (grid indices; None:
    the whole grid); a window that does not fit the grid is a DataError naming the key."""
    if crop is None:
        return ds
    x0, x1, y0, y1 = crop
    if x1 > ds.sizes["x"] or y1 > ds.sizes["y"] or x0 >= x1 or y0 >= y1:
        raise DataError(
            f"config `prepare.cerra.crop` {list(crop)} does not fit the grid of {ds.attrs.get('source_file')} "
            f"({ds.sizes['x']} x {ds.sizes['y']})"
        )
    return ds.isel(x=slice(x0, x1), y=slice(y0, y1))


def check_month_file(ds, path: str, year: int, month: int, expected: tuple[str, dict] | None = None) -> None:
    """Stop unless ``ds`` (one file of ``year``-``month`` read from ``path``, cropped) lies on the ``expected`` grid
    (file, ``{"x": ..., "y": ...}``; None: not checked) and holds only times of that month, each once."""
    if expected is not None:
        reference, coords = expected
        grid.check_same_grid(
            path,
            {"x": ds["x"].values, "y": ds["y"].values},
            coords,
            reference,
            "CERRA files hold the whole 1069 x 1069 Lambert grid; a file on another grid is not CERRA from the "
            "CDS `reanalysis-cerra-single-levels`. Delete it and rerun its download",
        )
    start = np.datetime64(f"{year:04d}-{month:02d}-01")
    end = (pd.Timestamp(start) + pd.offsets.MonthBegin(1)).to_datetime64()
    times = ds["time"].values.astype("datetime64[ns]")
    if ((times < start) | (times >= end)).any():
        raise DataError(f"{path}: holds times outside {year}-{month:02d}; delete it and rerun its download")
    if len(np.unique(times)) != len(times):
        raise DataError(f"{path}: duplicated times; delete it and rerun its download")


def land_mask(valid: np.ndarray, name: str, path: str) -> np.ndarray:
    """The month's mask ``[y, x]`` of points where variable ``name`` (the first of the month's first file,
    ``path``) has data in every time step (``valid``); stops when it is empty."""
    plausibility.require_any(valid, path, f"{name} data in every time step (the land mask)")
    return valid


def require_variables(paths: Sequence[str], variables: Sequence[str], found: set[str]) -> None:
    """Stop when the files ``paths`` of one month lack some of ``variables`` (those of the first month)."""
    missing = [v for v in variables if v not in found]
    if missing:
        raise DataError(
            f"{', '.join(paths)}: variable(s) {missing} missing (found {sorted(found)}); "
            "rerun the download of this month"
        )


def reduce_cerra_month(
    task: CerraMonth,
    variables: Sequence[str],
    crop,
    start_year: int,
    checks: plausibility.Checks | None = None,
    expected: tuple[str, dict] | None = None,
    daily: bool = False,
):
    """(task, partial weekly moments ``{week: {name: Moments}}``, daily values ``{name: [D, Y, X]}`` of every
    day of the month (float32; None without ``daily``), valid mask) of one month.

    ``checks``: :mod:`.plausibility` (None: the ranges of :data:`~terraflux.sources.cerra.PLAUSIBLE`);
    ``expected``: (file, ``{"x": ..., "y": ...}``) the grid (after ``crop``) every file must have.
    """
    checks = checks or plausibility.for_source("cerra")
    parts: dict[int, dict[str, Moments]] = {}
    days: dict[str, np.ndarray] | None = {} if daily else None
    found = set()
    valid = None
    for path in task.paths:
        ds = window(open_cerra(path), crop)
        with ExitStack() as stack:
            stack.callback(ds.close)
            check_month_file(ds, path, task.year, task.month, expected)
            times = ds["time"].values.astype("datetime64[ns]")
            scale = 24.0 / ds.attrs["step_hours"] if "step_hours" in ds.attrs else 1.0
            for name in ds.data_vars:
                if variables and name not in variables:
                    continue
                values = read_values(ds, name)
                plausibility.check(values, name, path, checks)
                if valid is None:
                    valid = land_mask(np.isfinite(values).all(axis=0), name, path)
                unique, moments = daily_moments(values, times.astype("datetime64[D]"))
                for key, mom in weekly_moments(unique, moments, start_year, scale).items():
                    parts.setdefault(key, {})[name] = mom
                if days is not None:
                    require_every_day(unique, path, task.year, task.month)
                    days[name] = (moments.mean * scale).astype(np.float32)
                found.add(name)
    require_variables(task.paths, variables, found)
    return task, parts, days, valid


def require_every_day(days: np.ndarray, path: str, year: int, month: int) -> None:
    """Stop unless ``days`` (the days with data in ``path``) are every day of ``year``-``month``: the daily
    store has one value per day."""
    expected = pd.date_range(f"{year}-{month:02d}-01", periods=pd.Timestamp(year, month, 1).days_in_month).values
    missing = np.setdiff1d(expected.astype("datetime64[D]"), days.astype("datetime64[D]"))
    if len(missing):
        raise DataError(
            f"{path}: no data on {', '.join(str(d) for d in missing[:3])}{' ...' if len(missing) > 3 else ''}; "
            "the daily CERRA store needs every day: delete the file and rerun its download"
        )


LAYOUT = "layout.json"
DAILY_CHUNKS = {"time": 32, "y": 64, "x": 64}


def _period(period: Mapping) -> tuple[int, int, list[int]]:
    return int(period["start_year"]), int(period["end_year"]), sorted(int(y) for y in period["train_years"])


def _tasks(files: Mapping[tuple[int, int], Sequence[str]], first: int, last: int) -> list[CerraMonth]:
    """One task per month of the years ``first``..``last``; a missing month is a DataError naming it."""
    months = [(y, m) for y in range(first, last + 1) for m in range(1, 13)]
    for key in months:
        if not files.get(key):
            raise DataError(f"CERRA data for {key[0]}-{key[1]:02d} is missing; rerun the acquire step for it")
    return [CerraMonth(y, m, [str(p) for p in files[(y, m)]]) for y, m in months]


def init_cerra(
    first_month: Sequence[str],
    *,
    stores_dir: str | Path,
    variables: Sequence[str],
    period: Mapping,
    crop: Sequence[int] | None,
    daily: bool = False,
) -> None:
    """Create the empty native-grid weekly store ``weekly.zarr`` (with ``daily`` also ``daily.zarr``) in
    ``stores_dir`` for the period, on the grid and with the variables and attributes of the period's first month
    (``first_month``: its analysis and forecast files); also ``layout.json`` (the stores' variables, the reference
    file of the grid, whether there is a daily store)."""
    start_year, end_year, _ = _period(period)
    first = None
    attrs = {}
    for path in first_month:
        ds = window(open_cerra(path), crop)
        first = ds if first is None else first
        scale_units = "d-1" if "step_hours" in ds.attrs else ""
        for name in ds.data_vars:
            units = ds[name].attrs.get("units", "")
            attrs[name] = {
                "long_name": ds[name].attrs.get("long_name", name),
                "units": f"{units} {scale_units}".strip(),
            }
    crs = pyproj.CRS.from_wkt(first.attrs["crs_wkt"])
    names = list(variables) if variables else sorted(attrs)
    space = {
        "y": (("y",), first["y"].values, {"units": "m", "standard_name": "projection_y_coordinate"}),
        "x": (("x",), first["x"].values, {"units": "m", "standard_name": "projection_x_coordinate"}),
        "latitude": (("y", "x"), first["latitude"].values, {"units": "degrees_north", "standard_name": "latitude"}),
        "longitude": (("y", "x"), first["longitude"].values, {"units": "degrees_east", "standard_name": "longitude"}),
    }
    first.close()
    stores_dir = Path(stores_dir)
    stores_dir.mkdir(parents=True, exist_ok=True)
    common = {"source": "CERRA (Copernicus Climate Change Service)", "crop": list(crop) if crop else None}
    mask = stores.variable(("y", "x"), {"long_name": "points with data in every step"}, bool)
    stores.create(
        stores_dir / "weekly.zarr",
        {**weekly.coords(start_year, end_year), **space},
        {**weekly.variables({n: attrs.get(n, {}) for n in names}, ("y", "x")), "land_mask": mask},
        weekly.CHUNKS,
        common,
        crs=crs.to_wkt(),
        spatial_dims=("x", "y"),
    )
    if daily:
        days = pd.date_range(f"{start_year}-01-01", f"{end_year}-12-31", freq="D").values
        stores.create(
            stores_dir / "daily.zarr",
            {"time": (("time",), days, {"standard_name": "time"}), **space},
            {**{n: stores.variable(("time", "y", "x"), attrs.get(n, {})) for n in names}, "land_mask": mask},
            DAILY_CHUNKS,
            {**common, "day_convention": "days by valid time; accumulations are the day's total"},
            crs=crs.to_wkt(),
            spatial_dims=("x", "y"),
        )
    layout = {"names": names, "reference": str(first_month[0]), "daily": bool(daily)}
    (stores_dir / LAYOUT).write_text(json.dumps(layout))


def prepare_cerra_part(
    files: Mapping[tuple[int, int], Sequence[str]],
    *,
    stores_dir: str | Path,
    years: tuple[int, int],
    period: Mapping,
    crop: Sequence[int] | None,
    workers: int = 1,
    plausible: Mapping | None = None,
) -> parts.Part:
    """Reduce the months of ``years`` ``(first, last)`` (``files``: ``{(year, month): [analysis, forecast]}``)
    into the store of ``stores_dir`` (:func:`init_cerra`); returns the :class:`~.parts.Part` (the shared
    chunks' slices and the part's valid mask) for :func:`finalise_cerra`."""
    start_year, end_year, _ = _period(period)
    stores_dir = Path(stores_dir)
    layout = json.loads((stores_dir / LAYOUT).read_text())
    names = layout["names"]
    group = zarr.open_group(str(stores_dir / "weekly.zarr"), mode="r+")
    expected = (layout["reference"], {"x": group["x"][:], "y": group["y"][:]})
    tasks = _tasks(files, *years)
    writer = weekly.WeeklyWriter(group, names, start_year, end_year, tuple(years))
    daily = _daily_writer(stores_dir, names, start_year, years) if layout["daily"] else None
    valid = None
    checks = plausibility.for_source("cerra", plausible)
    for task, month_parts, month_days, month_valid in ordered_map(
        reduce_cerra_month, tasks, max(1, int(workers)), names, crop, start_year, checks, expected, daily is not None
    ):
        valid = month_valid if valid is None else valid & month_valid
        last = pd.Timestamp(task.year, task.month, 1) + pd.offsets.MonthEnd(0)
        writer.add(month_parts, last)
        if daily is not None:
            daily.push((pd.Timestamp(task.year, task.month, 1) - pd.Timestamp(start_year, 1, 1)).days, month_days)
        log.info("CERRA %d-%02d reduced", task.year, task.month)
    writer.close()
    edges = {"weekly": writer.edges}
    if daily is not None:
        daily.close()
        edges["daily"] = daily.edges
    return parts.Part(years[0], years[1], {}, edges, {"valid": valid})


def _daily_writer(stores_dir: Path, names: list[str], start_year: int, years: Sequence[int]) -> stores.TimeChunkWriter:
    """The writer of the days of ``years`` (first, last) into ``daily.zarr``."""
    group = zarr.open_group(str(stores_dir / "daily.zarr"), mode="r+")
    day0 = pd.Timestamp(start_year, 1, 1)
    region = tuple((pd.Timestamp(y, 1, 1) - day0).days for y in (years[0], years[1] + 1))
    return stores.TimeChunkWriter(group, names, DAILY_CHUNKS["time"], group["time"].shape[0], region)


def finalise_cerra(
    stores_dir: str | Path,
    done: Iterable[parts.Part],
    *,
    out_path: str | Path,
    period: Mapping,
    reproject: Target | None,
    provenance: Mapping | None = None,
    daily_path: str | Path | None = None,
) -> None:
    """Complete the store of ``stores_dir`` from the ``done`` parts (which must tile the period): shared chunks,
    land mask (points with data in every step of every part), training climatology, or the reprojection to
    ``reproject``; publish it as ``out_path``, and the daily store (if :func:`init_cerra` made one) as
    ``daily_path``."""
    start_year, end_year, train = _period(period)
    stores_dir = Path(stores_dir)
    layout = json.loads((stores_dir / LAYOUT).read_text())
    names = layout["names"]
    if layout["daily"] != (daily_path is not None):
        raise ValueError(
            f"{stores_dir} was made {'with' if layout['daily'] else 'without'} a daily store, but finalise was "
            f"{'not ' if daily_path is None else ''}given one to publish: the downscaling pair changed since "
            "prepare_cerra_init ran; rerun the CERRA preparation from its init step"
        )
    if layout["daily"] and reproject is not None:
        raise ConfigError(DAILY_NATIVE_ONLY)
    done = parts.check_tiling(done, start_year, end_year)
    native = stores_dir / "weekly.zarr"
    group = zarr.open_group(str(native), mode="r+")
    stores.write_edges(group, [piece for part in done for piece in part.edges.get("weekly", [])])
    valid = done[0].arrays["valid"]
    for part in done[1:]:
        valid = valid & part.arrays["valid"]
    group["land_mask"][:] = valid
    record = {"provenance": dict(provenance or {}), "train_years": train}
    if layout["daily"]:
        daily = zarr.open_group(str(stores_dir / "daily.zarr"), mode="r+")
        stores.write_edges(daily, [piece for part in done for piece in part.edges.get("daily", [])])
        daily["land_mask"][:] = valid
        stores.finish(stores_dir / "daily.zarr", record)
        parts.publish(stores_dir / "daily.zarr", daily_path)
    if reproject is None:
        weekly.write_climatology(group, names, train, start_year, end_year)
        stores.finish(native, record)
        parts.publish(native, out_path)
        return
    with atomic_output(out_path) as final:
        reproject_weekly(native, final, reproject, names, train=train, start_year=start_year, end_year=end_year)
        log.info("CERRA weekly statistics reprojected to %s", reproject.crs)
        stores.finish(final, record)


def prepare_cerra(
    files: Mapping[tuple[int, int], Sequence[str]],
    *,
    out_path: str | Path,
    variables: Sequence[str],
    period: Mapping,
    crop: Sequence[int] | None,
    reproject: Target | None,
    workers: int = 1,
    plausible: Mapping | None = None,
    provenance: Mapping | None = None,
    daily_path: str | Path | None = None,
) -> None:
    """Write ``cerra_weekly.zarr`` (and, given ``daily_path``, the daily store there) from
    ``{(year, month): [analysis, forecast]}`` GRIB files (short names) in one process: :func:`init_cerra`, one
    part of the whole period (:func:`prepare_cerra_part`), :func:`finalise_cerra`.

    ``reproject``: None keeps the native Lambert grid; a :class:`~.regrid.Target` writes the store on that grid.
    ``plausible``: config ``prepare.plausibility`` (None: the ranges of :data:`~terraflux.sources.cerra.PLAUSIBLE`;
    :mod:`.plausibility`).
    """
    start_year, end_year, _ = _period(period)
    if daily_path is not None and reproject is not None:
        raise ConfigError(DAILY_NATIVE_ONLY)
    tasks = _tasks(files, start_year, end_year)  # every month present before any work
    with parts.staging_folder(out_path, "cerra_stores") as stores_dir:
        init_cerra(
            tasks[0].paths,
            stores_dir=stores_dir,
            variables=variables,
            period=period,
            crop=crop,
            daily=daily_path is not None,
        )
        part = prepare_cerra_part(
            files,
            stores_dir=stores_dir,
            years=(start_year, end_year),
            period=period,
            crop=crop,
            workers=workers,
            plausible=plausible,
        )
        finalise_cerra(
            stores_dir,
            [part],
            out_path=out_path,
            period=period,
            reproject=reproject,
            provenance=provenance,
            daily_path=daily_path,
        )
