"""The check of in-situ site data: a folder as the workflow uses ``sources.insitu.local_dir``, or single files.

A folder goes through the checks of ``download_insitu`` (:func:`terraflux.sources.download.insitu.local_entries`:
the layout survey of :mod:`terraflux.sources.insitu.layout`, one file per site and resolution, the site lists of
:mod:`terraflux.sources.insitu.sites` with a row for every site) and of ``prepare_insitu``: every file the job
reads is read with its reader (:func:`terraflux.sources.insitu.read.read_fluxnet`,
:func:`terraflux.prepare.insitu.read_carbonsense_site`; every cell checked), the files of each site chosen as the
job chooses them (:func:`terraflux.prepare.insitu.site_fluxes`), and with a config, the sites on the model grid of
``region`` and their records in ``period`` (:func:`~terraflux.prepare.insitu.check_on_grid`,
:func:`~terraflux.prepare.insitu.check_in_period`). Its format is config ``sources.insitu.format`` when config
files are given, else CarbonSense when it holds site folders, ONEFlux files otherwise.

Single files are read alone: ONEFlux site files with their reader, ``sites.csv`` with
:func:`~terraflux.sources.insitu.sites.read_site_table`, BIF files for the sites of the ONEFlux files given with
them. The folder's own checks (site list, duplicates) need the folder.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from terraflux.check.context import Context
from terraflux.check.report import Report, Result, checking
from terraflux.errors import DataError
from terraflux.prepare import insitu as insitu_prepare
from terraflux.sources.download.insitu import local_entries
from terraflux.sources.insitu import BASE_ADVICE, BASE_FILE, PERIOD, SITES_FILE, flux_columns, layout, sites
from terraflux.sources.insitu import read as insitu_read

import pandas as pd

RESOLUTIONS = {"HH": "half-hourly", "HR": "hourly", "DD": "daily", "WW": "weekly", "MM": "monthly", "YY": "yearly"}
NOT_READ = "not read by the workflow (daily values come from DD, else HH or HR files; monthly values from MM files)"


def insitu(paths: Sequence[Path], ctx: Context) -> Result:
    """Check in-situ folders and files (see module doc)."""
    settings = ctx.config["prepare"]["insitu"]
    partitioning, min_coverage = settings["partitioning"], float(settings["min_coverage"])
    configured = ctx.config["sources"]["insitu"]["format"] if ctx.given else None
    result = Result()
    for folder in (p.resolve() for p in paths if p.is_dir()):  # resolved, as the job resolves local_dir
        if _is_site_folder(folder):
            result.reports.append(_carbonsense_site(folder, partitioning, min_coverage)[0])
            result.reports[-1].notes.append(
                "a CarbonSense site folder: config `sources.insitu.local_dir` is the folder above it"
            )
            continue
        fmt = configured or ("carbonsense" if insitu_read.site_dirs(folder) else "fluxnet2015")
        check = _carbonsense_folder if fmt == "carbonsense" else _oneflux_folder
        result.reports += check(folder, ctx, partitioning, min_coverage)
    files = [p for p in paths if not p.is_dir()]
    if files:
        result.reports += _single_files(files, partitioning)
    return result


def _is_site_folder(folder: Path) -> bool:
    return any(p.is_dir() and PERIOD.match(p.name) for p in folder.iterdir())


def _site_text(site) -> str:
    """``'FR-Pue (43.7413 N, 3.5957 E, 270 m, EBF)'`` of a row with site_id, latitude, longitude, elevation, igbp."""
    elevation = "" if pd.isna(site.elevation) else f", {site.elevation:g} m"
    igbp = f", {site.igbp}" if site.igbp else ""
    return f"{site.site_id} ({site.latitude:.6g} N, {site.longitude:.6g} E{elevation}{igbp})"


def _sites_text(table: pd.DataFrame, limit: int = 10) -> str:
    """``'2 sites: FR-Pue (43.7413 N, 3.5957 E, 270 m, EBF), ...'`` of a site table."""
    rows = [_site_text(site) for site in table.itertuples()]
    more = f" and {len(rows) - limit} more" if len(rows) > limit else ""
    return f"{len(rows)} site{'s' if len(rows) != 1 else ''}: {', '.join(rows[:limit])}{more}"


#: How the records' times are written, per resolution.
TIME_TEXT = {"HH": "%Y-%m-%d %H:%M", "HR": "%Y-%m-%d %H:%M", "MM": "%Y-%m", "YY": "%Y"}


def _records_text(times: pd.Series, rows: int, resolution: str = "DD") -> str:
    """``'2007-01 .. 2014-12, 96 rows, years 2007-2014'``."""
    first, last, form = times.min(), times.max(), TIME_TEXT.get(resolution, "%Y-%m-%d")
    return f"{first:{form}} .. {last:{form}}, {rows} rows, years {first.year}-{last.year}"


def _describe_oneflux(report: Report, frame: pd.DataFrame, partitioning: str) -> None:
    attrs = frame.attrs
    resolution = attrs["resolution"]
    report.add(
        "layout",
        f"{attrs['product']} ONEFlux file of site {attrs['site']}, {RESOLUTIONS[resolution]} ({resolution}), "
        f"network {attrs['network']}",
    )
    report.add("records", _records_text(frame["time"], len(frame), resolution))
    columns = ", ".join(flux_columns(partitioning).values())
    report.add("fluxes", f"{columns} in {attrs['units']}; NEE in {int(frame['NEE'].notna().sum())} rows")


def _on_grid_and_period(report: Report, table: pd.DataFrame, monthly: Mapping[str, pd.DataFrame], ctx: Context) -> None:
    """With a config: the sites of ``table`` (site_id, latitude, longitude) on the model grid of ``region`` and
    their monthly records in ``period``, checked as ``prepare_insitu`` checks them."""
    if not ctx.given:
        return
    cell_lat, cell_lon, _ = ctx.model_grid()
    kept = insitu_prepare.nearest_cells(table, cell_lat, cell_lon)
    insitu_prepare.check_on_grid(kept, table, cell_lat, cell_lon)
    period = ctx.config["period"]
    start, end = int(period["start_year"]), int(period["end_year"])
    frames = [monthly[site] for site in kept["site_id"] if site in monthly]
    rows = insitu_prepare.period_table(frames, pd.Timestamp(start, 1, 1), pd.Timestamp(end, 12, 31)).num_rows
    insitu_prepare.check_in_period(frames, rows, period)
    report.add("model grid", f"{len(kept)} of {len(table)} sites on the model grid of {ctx.region_text()}")
    report.add("period", f"{rows} monthly values in config `period` ({start}..{end})")


def _oneflux_folder(folder: Path, ctx: Context, partitioning: str, min_coverage: float) -> list[Report]:
    """The files of a ONEFlux folder, then the folder as a whole."""
    whole = Report(str(folder))
    with checking(whole):
        local_entries(folder, "fluxnet2015")
    found = layout.survey(p for p in folder.rglob("*") if p.is_file())
    try:
        by_site = layout.by_site(found.oneflux)
    except DataError:  # two files of a site and resolution: the folder's error says so
        by_site = {}
    reports = [_site_list(path, sorted(by_site)) for path in found.site_lists]
    files = {path: Report(str(path)) for path in found.oneflux}
    monthly: dict[str, pd.DataFrame] = {}
    reading: list[Path] = []  # the file being read, while it is read

    def read(path: Path) -> pd.DataFrame:
        reading.append(path)
        frame = insitu_read.read_fluxnet(path, partitioning)
        _describe_oneflux(files[path], frame, partitioning)
        reading.remove(path)
        return frame

    for site, by_res in sorted(by_site.items()):
        reading.clear()
        attempt = Report(str(folder))
        with checking(attempt):
            monthly[site] = insitu_prepare.site_fluxes(folder, site, by_res, read, min_coverage)[1]
        if reading:  # the file being read stopped the job
            files[reading[-1]].error = attempt.error
            files[reading[-1]].notes += attempt.notes
        elif not attempt.ok and whole.ok:  # the site has no file the job can use: an error of the folder
            whole.error = attempt.error
        elif not attempt.ok:
            reports.append(attempt)
        else:
            whole.notes += attempt.notes
    for report in files.values():
        if report.ok and not report.facts:
            report.add("used", NOT_READ)
    reports += files.values()
    if not _ready(whole, reports):
        return reports + [whole]
    with checking(whole):
        table = sites.site_table(folder, found.site_lists, sorted(by_site))
        networks = sorted({layout.parse_name(p).network for p in found.oneflux})
        whole.add("format", f"ONEFlux site files (fluxnet2015) of {', '.join(networks)}")
        whole.add("sites", _sites_text(table))
        _on_grid_and_period(whole, table, monthly, ctx)
    return reports + [whole]


def _ready(whole: Report, reports: Sequence[Report]) -> bool:
    """Whether the folder's own checks passed and so did every file: then it is checked as a whole (sites, grid,
    period); else its report says why not."""
    if whole.ok and not all(report.ok for report in reports):
        whole.add("as a whole", "checked once the errors above are corrected")
    return whole.ok and all(report.ok for report in reports)


def _site_list(path: Path, site_ids: Iterable[str]) -> Report:
    report = Report(str(path))
    with checking(report):
        if path.name == SITES_FILE:
            table = sites.read_site_table(path)
        else:
            table = sites.read_bif(path, site_ids)
        report.add("site list", _sites_text(table))
    return report


def _carbonsense_site(site_dir: Path, partitioning: str, min_coverage: float) -> tuple[Report, dict, pd.DataFrame]:
    report = Report(str(site_dir))
    meta, month = {}, pd.DataFrame()
    with checking(report):
        meta, day, month = insitu_prepare.read_carbonsense_site(site_dir, partitioning, min_coverage)
        report.add("layout", f"CarbonSense v1 site {meta['site_id']}, network {meta['network']}")
        report.add("site", _site_text(next(pd.DataFrame([meta]).itertuples())))
        report.add("records", f"daily values: {_records_text(day['time'], len(day))}")
    return report, meta, month


def _carbonsense_folder(folder: Path, ctx: Context, partitioning: str, min_coverage: float) -> list[Report]:
    """The site folders of a CarbonSense folder, then the folder as a whole."""
    whole = Report(str(folder))
    with checking(whole):
        local_entries(folder, "carbonsense")
    reports, metas, monthly = [], [], {}
    for site_dir in insitu_read.site_dirs(folder):
        report, meta, month = _carbonsense_site(site_dir, partitioning, min_coverage)
        reports.append(report)
        if report.ok:
            metas.append(meta)
            monthly[meta["site_id"]] = month
    if not _ready(whole, reports):
        return reports + [whole]
    with checking(whole):
        table = pd.DataFrame(metas)
        whole.add("format", "CarbonSense v1 site folders (carbonsense)")
        whole.add("sites", _sites_text(table))
        _on_grid_and_period(whole, table, monthly, ctx)
    return reports + [whole]


def _single_files(files: Sequence[Path], partitioning: str) -> list[Report]:
    """ONEFlux files, sites.csv and BIF files read alone (see module doc)."""
    site_ids = sorted({name.site for name in (layout.oneflux_name(p.name) for p in files) if name})
    reports = []
    for path in sorted(files):
        if layout.is_site_list(path.name) and (path.name == SITES_FILE or site_ids):
            reports.append(_site_list(path, site_ids))
            continue
        report = Report(str(path))
        with checking(report):
            if layout.oneflux_name(path.name):
                frame = insitu_read.read_fluxnet(path, partitioning)
                _describe_oneflux(report, frame, partitioning)
                if frame.attrs["resolution"] in ("WW", "YY"):
                    report.notes.append(NOT_READ)
            elif layout.is_site_list(path.name):
                raise DataError(
                    f"{path}: a BIF file is read for the sites of the ONEFlux files beside it: check it with them, "
                    f"or check its folder ({path.parent})"
                )
            elif BASE_FILE.match(path.name):
                raise DataError(f"{path}: {BASE_ADVICE}")
            else:
                layout.parse_name(path)  # names the accepted file names
        reports.append(report)
    return reports
