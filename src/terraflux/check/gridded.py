"""The check of gridded raw files: ERA5-Land, CERRA, NOAA VHP and land cover (LCCS maps, the PFT product).

Each file goes through the reader its prepare job uses and the job's checks, in the job's order, with the
values read a block of time steps at a time (:func:`~terraflux.check.describe.scan`):

- ERA5-Land (``prepare_era5_land``): the reader (:func:`terraflux.sources.era5_land.read.open_hourly`: format,
  GRIB completeness, dims, units, duplicated times, the configured variables), the crop to ``region``, the
  times of the file's month (every hour or day of it with ``prepare.strict_months``), the first file's grid,
  plausible values and the land mask (:mod:`terraflux.prepare.era5_land`, :mod:`terraflux.prepare.plausibility`).
  Without config files the variables of the first file that passes are required of the others;
- CERRA (``prepare_cerra``): the reader (:func:`terraflux.sources.cerra.read.open_cerra`), the window
  ``prepare.cerra.crop``, the first file's grid, times of the file's month, plausible values, the land mask of
  analysis files, and every month holding the first month's variables (:mod:`terraflux.prepare.cerra`);
- NOAA VHP (``prepare_vhp``): the reader (:func:`terraflux.sources.vhp.read.open_vhp`: VHI, the grid's edge
  attributes in either version), plausible VHI and, with a config, whether the file covers the region's ERA5-Land
  grid (:func:`terraflux.prepare.vhp.regrid`); a week without a valid pixel there is a note, as in the job's log;
- land cover and PFT product (``prepare_pft``): the reader (:mod:`terraflux.sources.land_cover.read`) and, with a
  config, whether pixels fall on the model grid (:func:`terraflux.prepare.pft.window`). The maps' pixel values are
  not read (a global 300 m map is large): a window holding only no-data pixels passes here and stops the job.

The month of an ERA5-Land or CERRA file is the one in its name when it is named as the workflow's raw files
(``era5-land_2016-01.nc``), else that of its first time step.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from terraflux.check.context import Context, region_points
from terraflux.check.describe import (
    extremes_text,
    file_format,
    grid_text,
    month_in_name,
    month_of,
    scan,
    time_span,
)
from terraflux.check.report import Report, Result, checking
from terraflux.prepare import cerra as cerra_prepare
from terraflux.prepare import era5_land as era5_prepare
from terraflux.prepare import grid, plausibility
from terraflux.prepare import pft as pft_prepare
from terraflux.prepare import vhp as vhp_prepare
from terraflux.sources import cerra as cerra_facts
from terraflux.sources import era5_land as era5_facts
from terraflux.sources import vhp as vhp_facts
from terraflux.sources.cerra.read import open_cerra, read_values
from terraflux.sources.era5_land import read as era5_read
from terraflux.sources.formats.netcdf import small_chunk_cache
from terraflux.sources.land_cover import read as land_cover_read
from terraflux.sources.vhp.read import open_vhp

import numpy as np
import xarray as xr

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Passed:
    """What later files are compared with: the first file that passed, its grid and variables."""

    path: str
    grid: dict[str, np.ndarray]
    variables: list[str]


def _by_month(paths: Sequence[Path], templates: Sequence[str]) -> list[Path]:
    """Files named as the workflow names a month's file first, in month order; the others after, by name."""
    return sorted(paths, key=lambda p: (month_in_name(p, templates) or (9999, 99), str(p)))


def _period_notes(ctx: Context, found: set[tuple[int, int]], unit: str, per_year: int) -> list[str]:
    """A note naming the months (or weeks) of config ``period`` without a file among those checked."""
    if not ctx.given:
        return []
    start, end = int(ctx.config["period"]["start_year"]), int(ctx.config["period"]["end_year"])
    wanted = [(year, index) for year in range(start, end + 1) for index in range(1, per_year + 1)]
    missing = [key for key in wanted if key not in found]
    if not missing:
        return []
    label = "{}-{:02d}" if unit == "months" else "{}-W{:02d}"
    names = ", ".join(label.format(*key) for key in missing[:5]) + (" ..." if len(missing) > 5 else "")
    return [
        f"config `period` ({start}..{end}): {len(missing)} of {len(wanted)} {unit} have no file among those checked "
        f"({names}); the workflow needs one for each"
    ]


def _outside_period(ctx: Context, report: Report, year: int, what: str) -> None:
    start, end = int(ctx.config["period"]["start_year"]), int(ctx.config["period"]["end_year"])
    if ctx.given and not start <= year <= end:
        report.notes.append(f"{what} lies outside config `period` ({start}..{end}): the workflow does not read it")


def era5_land(paths: Sequence[Path], ctx: Context) -> Result:
    """Check ERA5-Land hourly or daily-statistics monthly files (see module doc)."""
    config = ctx.config
    sources = config["sources"]["era5_land"]
    settings = era5_prepare.Settings(
        variables=[era5_facts.short_name(v) for v in sources["variables"]] if ctx.given else [],
        region=dict(ctx.region or {}),
        factor=int(config["prepare"]["model_grid_factor"]),
        start_year=int(config["period"]["start_year"]),
        hours=list(sources["hours"]),
        strict=bool(config["prepare"]["strict_months"]) and ctx.given,
        checks=plausibility.for_source("era5_land", config["prepare"]["plausibility"]),
    )
    templates = list(era5_facts.PATHS.values())
    small_chunk_cache()  # as prepare_era5_land: netCDF-C's read cache small, memory flat
    result, first, months = Result(), None, set()
    for path in _by_month(paths, templates):
        report = Report(str(path))
        months.add(month_in_name(path, templates))
        with checking(report):
            month, passed = _era5_land_file(path, ctx, settings, sources["product"], templates, first, report)
            months.add(month)
            first = first or passed
        result.reports.append(report)
    result.notes += _period_notes(ctx, months, "months", 12)
    return result


def _era5_land_file(
    path: Path,
    ctx: Context,
    settings: era5_prepare.Settings,
    product: str,
    templates: Sequence[str],
    first: Passed | None,
    report: Report,
) -> tuple[tuple[int, int], Passed]:
    source = str(path)
    report.add("format", file_format(path))
    opener = era5_read.open_hourly if product == "hourly" else era5_read.open_daily
    with opener([source], settings.variables or (first.variables if first else [])) as ds:
        if ctx.region is not None:
            ds = grid.crop(ds, ctx.region, source)
        times = ds["time"].values.astype("datetime64[ns]")
        year, month = month_of(path, templates, times)
        _outside_period(ctx, report, year, f"{year}-{month:02d}")
        era5_prepare.check_times(times, era5_prepare.MonthTask(year, month, [source], [], product), settings, source)
        if first is not None:
            era5_prepare.check_grid(ds, source, replace(settings, grid=first.grid, grid_source=first.path))
        land, described = None, []
        for name, var in ds.data_vars.items():
            found = scan(lambda time, var=var: var.isel(time=time).values, var.shape[0], var.shape[1:])
            plausibility.check_extremes(found.low, found.high, name, source, settings.checks)
            if land is None:
                land = era5_prepare.land_mask(found.first, found.last, name, source)
            described.append(extremes_text(name, var.attrs.get("units"), found.low, found.high))
        coords = {name: ds[name].values.astype(np.float64) for name in ("latitude", "longitude")}
        preliminary, replaced = int(ds.attrs.get("era5t_hours", 0)), int(ds.attrs.get("era5t_replaced_hours", 0))
        expver = f"{preliminary} steps of preliminary ERA5T data" if preliminary else "final data"
        if replaced:
            expver += f", {replaced} ERA5T steps replaced by final data"
        report.add("variables", "; ".join(described))
        report.add("time", f"{time_span(times)} ({expver}); month {year}-{month:02d}")
        cropped = f", cropped to {ctx.region_text()}" if ctx.region is not None else ""
        report.add("grid", grid_text(coords, "degrees") + cropped)
        report.add("land", f"{int(land.sum())} of {land.size} points have data (the land mask)")
        return (year, month), Passed(source, coords, list(ds.data_vars))


def cerra(paths: Sequence[Path], ctx: Context) -> Result:
    """Check CERRA analysis and forecast GRIB2 files (see module doc)."""
    config = ctx.config
    crop = config["prepare"]["cerra"]["crop"] if ctx.given else None
    checks = plausibility.for_source("cerra", config["prepare"]["plausibility"])
    result, first = Result(), None
    months: dict[tuple[int, int], list[tuple[str, set[str]]]] = {}
    named = set()
    for path in _by_month(paths, [cerra_facts.PATH]):
        report = Report(str(path))
        named.add(month_in_name(path, [cerra_facts.PATH]))
        with checking(report):
            month, passed = _cerra_file(path, ctx, crop, checks, first, report)
            months.setdefault(month, []).append((passed.path, set(passed.variables)))
            first = first or passed
        result.reports.append(report)
    if months:  # every month holds the variables of the first month's files (prepare_cerra)
        first_month, *others = sorted(months)
        variables = sorted(set().union(*(names for _, names in months[first_month])))
        for month in others:
            files = [path for path, _ in months[month]]
            group = Report(", ".join(files))
            with checking(group):
                cerra_prepare.require_variables(files, variables, set().union(*(n for _, n in months[month])))
            if not group.ok:
                result.reports.append(group)
    result.notes += _period_notes(ctx, named | set(months), "months", 12)
    return result


def _cerra_file(
    path: Path, ctx: Context, crop, checks: plausibility.Checks, first: Passed | None, report: Report
) -> tuple[tuple[int, int], Passed]:
    source = str(path)
    report.add("format", file_format(path))
    ds = cerra_prepare.window(open_cerra(path), crop)
    try:
        times = ds["time"].values.astype("datetime64[ns]")
        year, month = month_of(path, [cerra_facts.PATH], times)
        _outside_period(ctx, report, year, f"{year}-{month:02d}")
        cerra_prepare.check_month_file(ds, source, year, month, (first.path, first.grid) if first else None)
        forecast = "step_hours" in ds.attrs
        valid, described = None, []
        for name in ds.data_vars:
            found = scan(
                lambda time, name=name: read_values(ds, name, time), ds.sizes["time"], (ds.sizes["y"], ds.sizes["x"])
            )
            plausibility.check_extremes(found.low, found.high, name, source, checks)
            if valid is None and not forecast:  # the job's land mask: the first variable of the analysis file
                valid = cerra_prepare.land_mask(found.everywhere, name, source)
            described.append(extremes_text(name, ds[name].attrs.get("units"), found.low, found.high))
        coords = {"x": ds["x"].values.astype(np.float64), "y": ds["y"].values.astype(np.float64)}
        lat, lon = ds["latitude"].values, ds["longitude"].values
        step = f"forecast, accumulations over {ds.attrs['step_hours']:g} h" if forecast else "analysis"
        report.add("product", step)
        report.add("variables", "; ".join(described))
        report.add("time", f"{time_span(times)}; month {year}-{month:02d}")
        window = f", the window `prepare.cerra.crop` {list(crop)}" if crop else ""
        report.add("grid", f"{grid_text(coords, 'm')} (Lambert conformal){window}")
        report.add("covers", f"latitude {lat.min():.4g}..{lat.max():.4g}, longitude {lon.min():.4g}..{lon.max():.4g}")
        if valid is not None:
            report.add("land", f"{int(valid.sum())} of {valid.size} points have data in every step (the land mask)")
        return (year, month), Passed(source, coords, list(ds.data_vars))
    finally:
        ds.close()


def vhp(paths: Sequence[Path], ctx: Context) -> Result:
    """Check NOAA VHP weekly files (see module doc)."""
    checks = plausibility.for_source("vhp", ctx.config["prepare"]["plausibility"])
    target = None
    if ctx.region is not None:
        lat, lon = region_points(ctx.region)
        target = xr.Dataset(coords={"latitude": lat, "longitude": lon})
    result, weeks = Result(), set()
    for path in sorted(paths):
        report = Report(str(path))
        with checking(report):
            source = str(path)
            report.add("format", file_format(path))
            name = vhp_facts.NAME.fullmatch(path.name)
            if name:
                year, week = int(name["year"]), int(name["week"])
                weeks.add((year, week))
                report.add("week", f"{year}-W{week:02d}, satellite {name['satellite']}")
                _outside_period(ctx, report, year, f"week {year}-W{week:02d}")
            pixels = open_vhp(path)["VHI"]
            found = scan(lambda _, values=pixels.values: values[None], 1, pixels.shape)
            plausibility.check_extremes(found.low, found.high, "VHI", source, checks, require_data=False)
            coords = {name: pixels[name].values for name in ("latitude", "longitude")}
            report.add("variables", f"{extremes_text('VHI', None, found.low, found.high)}; {found.present} of "
                                    f"{found.size} pixels valid")  # fmt: skip
            report.add("grid", grid_text(coords, "degrees"))
            if target is not None:
                on_grid, overlaps = vhp_prepare.regrid(pixels, target)
                vhp_prepare.require_overlap(overlaps, pixels, source, ctx.region_text())
                if np.isnan(on_grid).all():
                    log.warning(vhp_prepare.NO_VALID_PIXEL, source)
                valid = int(np.isfinite(on_grid).sum())
                report.add("region", f"VHI at {valid} of {on_grid.size} ERA5-Land points of {ctx.region_text()}")
        result.reports.append(report)
    result.notes += _period_notes(ctx, weeks, "weeks", vhp_facts.WEEKS)
    return result


def land_cover(paths: Sequence[Path], ctx: Context) -> Result:
    """Check land-cover LCCS maps (CDS zips or NetCDF; see module doc)."""
    return _maps(paths, ctx, land_cover_read.open_lccs)


def pft(paths: Sequence[Path], ctx: Context) -> Result:
    """Check files of the ESA CCI PFT product (see module doc)."""
    return _maps(paths, ctx, land_cover_read.open_pft)


def _maps(paths: Sequence[Path], ctx: Context, opener) -> Result:
    result = Result()
    for path in sorted(paths):
        report = Report(str(path))
        with checking(report):
            source = str(path)
            report.add("format", file_format(path))
            with opener(path) as maps:
                layers = [maps] if isinstance(maps, xr.DataArray) else list(maps.data_vars.values())
                lat, lon = maps["latitude"].values, maps["longitude"].values
                report.add("variables", ", ".join(f"{layer.name} ({layer.dtype})" for layer in layers))
                report.add("grid", grid_text({"latitude": lat, "longitude": lon}, "degrees"))
                if ctx.given:
                    cell_lat, cell_lon, size = ctx.model_grid()
                    found = pft_prepare.window(lat, lon, cell_lat, cell_lon, size)
                    pft_prepare.require_pixels(found is not None, source)
                    rows, cols = found
                    report.add(
                        "region",
                        f"{rows.stop - rows.start} x {cols.stop - cols.start} pixels on the {len(cell_lat)} x "
                        f"{len(cell_lon)} cells of the model grid of {ctx.region_text()} (pixel values not read)",
                    )
        result.reports.append(report)
    return result
