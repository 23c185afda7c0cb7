"""In-situ carbon fluxes -> daily and monthly GPP, RECO, NEE per site (gC m-2 d-1) and the site table.

Quality filtering and coverage:

- hourly/half-hourly records (CarbonSense targets, FLUXNET HH): a record is good when its value is finite and
  (FLUXNET HH) ``NEE_VUT_REF_QC <= 1`` (measured or good gap-filling). Daily value = mean of good records x
  ``UMOL_CO2_TO_GC_PER_DAY`` (umol CO2 m-2 s-1 -> gC m-2 d-1, :mod:`terraflux.sources.insitu`);
  ``coverage`` = good records / expected records of the day;
- FLUXNET DD/MM files: the file's value, ``coverage`` = ``NEE_VUT_REF_QC`` (fraction of good records);
- monthly from daily (when no MM file): mean of the kept days, ``coverage`` = mean daily coverage over the
  month's days.

Values whose coverage is below ``min_coverage`` are set to NaN (the row stays, with its coverage). Sites are
matched to the nearest model-grid cell (``cell_iy``, ``cell_ix`` into the monthly ERA5-Land store); sites
off the grid are left out and sites without records in the period are named, in warnings. When no site is
on the grid (:func:`check_on_grid`) or no record is in the period (:func:`check_in_period`), nothing is
written and the error names the sites, their years and the config keys (``region.*``, ``period.*``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

from terraflux.errors import DataError
from terraflux.outputs import write_parquet
from terraflux.sources.insitu import UMOL_CO2_TO_GC_PER_DAY, layout
from terraflux.sources.insitu import read as insitu
from terraflux.sources.insitu import sites as site_lists

import numpy as np
import pandas as pd
import pyarrow as pa

log = logging.getLogger(__name__)

FLUXES = ("GPP", "RECO", "NEE")
SITE_COLUMNS = [
    "site_id",
    "latitude",
    "longitude",
    "elevation",
    "igbp",
    "network",
    "cell_latitude",
    "cell_longitude",
    "cell_iy",
    "cell_ix",
]


def daily_from_subdaily(frame: pd.DataFrame, records_per_day: int, min_coverage: float) -> pd.DataFrame:
    """Hourly/half-hourly frame (``time, GPP, RECO, NEE[, qc]`` in umol m-2 s-1) -> daily gC m-2 d-1 + coverage."""
    good = frame["NEE"].notna()
    if "qc" in frame and frame["qc"].notna().any():
        good &= frame["qc"].fillna(3) <= 1
    data = frame[list(FLUXES)].where(good, axis=0)
    data["day"] = frame["time"].dt.floor("D")
    grouped = data.groupby("day")
    out = grouped[list(FLUXES)].mean() * UMOL_CO2_TO_GC_PER_DAY
    out["coverage"] = grouped["NEE"].count() / records_per_day
    out.loc[out["coverage"] < min_coverage, list(FLUXES)] = np.nan
    return out.rename_axis("time").reset_index()


def monthly_from_daily(daily: pd.DataFrame, min_coverage: float) -> pd.DataFrame:
    """Daily frame -> monthly mean of kept days; coverage = mean daily coverage over all days of the month."""
    if daily.empty:
        return daily.copy()
    days = pd.date_range(
        daily["time"].min().to_period("M").to_timestamp(),
        daily["time"].max().to_period("M").to_timestamp("D", "end").floor("D"),
        freq="D",
    )
    full = daily.set_index("time").reindex(days)
    full["coverage"] = full["coverage"].fillna(0.0)
    grouped = full.groupby(full.index.to_period("M"))
    out = grouped[list(FLUXES)].mean()
    out["coverage"] = grouped["coverage"].mean()
    out.loc[out["coverage"] < min_coverage, list(FLUXES)] = np.nan
    out.index = out.index.to_timestamp()
    return out.rename_axis("time").reset_index()


def from_aggregated(frame: pd.DataFrame, min_coverage: float) -> pd.DataFrame:
    """FLUXNET DD/MM frame -> the file's values (gC m-2 d-1) with coverage = NEE_VUT_REF_QC."""
    out = frame[["time", *FLUXES]].copy()
    out["coverage"] = frame["qc"].to_numpy()
    out.loc[out["coverage"].fillna(0) < min_coverage, list(FLUXES)] = np.nan
    return out


def _east(longitude: np.ndarray) -> np.ndarray:
    """Longitude differences wrapped to -180..180 (a site at -3.6 is 356.4 on a 0..360 grid)."""
    return (longitude + 180.0) % 360.0 - 180.0


def nearest_cells(sites: pd.DataFrame, cell_lat: np.ndarray, cell_lon: np.ndarray) -> pd.DataFrame:
    """Add the nearest model cell (centre coordinates and indices) to each site; sites outside the grid
    (further than one cell spacing from every centre) are dropped with a warning. Longitudes are compared
    modulo 360 (sites in -180..180 on a 0..360 grid)."""
    sites = sites.copy()
    dlon_all = _east(sites["longitude"].to_numpy()[:, None] - cell_lon[None, :])
    iy = np.abs(sites["latitude"].to_numpy()[:, None] - cell_lat[None, :]).argmin(axis=1)
    ix = np.abs(dlon_all).argmin(axis=1)
    dlat = np.abs(np.diff(cell_lat)).min() if len(cell_lat) > 1 else 180.0
    dlon = np.abs(np.diff(cell_lon)).min() if len(cell_lon) > 1 else 360.0
    off_lon = np.abs(dlon_all[np.arange(len(sites)), ix])
    inside = (np.abs(cell_lat[iy] - sites["latitude"]) <= dlat).to_numpy() & (off_lon <= dlon)
    if (~inside).any():
        log.warning("sites outside the model grid, left out: %s", ", ".join(sites.loc[~inside, "site_id"]))
    sites["cell_latitude"] = cell_lat[iy]
    sites["cell_longitude"] = cell_lon[ix]
    sites["cell_iy"] = iy.astype(np.int32)
    sites["cell_ix"] = ix.astype(np.int32)
    return sites[inside].reset_index(drop=True)


def _listed(items: list[str], limit: int = 10) -> str:
    """The first ``limit`` items, comma-separated, with the number left out."""
    more = f" and {len(items) - limit} more" if len(items) > limit else ""
    return ", ".join(items[:limit]) + more


def check_on_grid(kept: pd.DataFrame, sites: pd.DataFrame, cell_lat: np.ndarray, cell_lon: np.ndarray) -> None:
    """DataError when no site lies on the model grid, naming the sites, the grid and the config keys."""
    if len(kept):
        return
    where = [f"{s.site_id} ({s.latitude:.4g} N, {s.longitude:.4g} E)" for s in sites.itertuples()]
    grid = f"latitude {cell_lat.min():g}..{cell_lat.max():g}, longitude {cell_lon.min():g}..{cell_lon.max():g}"
    raise DataError(
        f"none of the {len(sites)} in-situ sites lies on the model grid ({grid}, from config 'region'): "
        f"{_listed(where)}. Widen 'region.north', 'region.south', 'region.west', 'region.east' to include them, "
        "or use sites inside the region"
    )


def check_in_period(monthly: list[pd.DataFrame], rows: int, period: Mapping) -> None:
    """DataError when the sites on the grid have no monthly record in the period, naming their years and the
    config keys; a warning names the sites without records in it when others have some."""
    start, end = int(period["start_year"]), int(period["end_year"])
    spans = {}
    for frame in (m for m in monthly if len(m)):
        years = frame["time"].dt.year
        inside = years.between(start, end).any()
        spans[frame["site_id"].iloc[0]] = (years.min(), years.max(), inside)
    outside = [f"{site} {y0}-{y1}" for site, (y0, y1, inside) in sorted(spans.items()) if not inside]
    if rows == 0:
        raise DataError(
            f"no in-situ site on the grid has records in the period {start}..{end} (config 'period.start_year', "
            f"'period.end_year'); their years: {_listed(outside) or 'none'}. Set the period to years the sites "
            "cover, or add sites with records in it"
        )
    if outside:
        log.warning("sites without records in %d..%d (they stay in the site table): %s", start, end, _listed(outside))


def read_carbonsense_site(site_dir: str | Path, partitioning: str, min_coverage: float):
    """(site row, daily frame, monthly frame) of one CarbonSense site folder."""
    meta = insitu.read_meta(site_dir)
    hourly = insitu.read_targets(site_dir, partitioning)
    step = hourly["time"].diff().median()
    per_day = int(round(pd.Timedelta(days=1) / step)) if pd.notna(step) and step > pd.Timedelta(0) else 24
    day = daily_from_subdaily(hourly, per_day, min_coverage)
    month = monthly_from_daily(day, min_coverage)
    return meta, day.assign(site_id=meta["site_id"]), month.assign(site_id=meta["site_id"])


def read_carbonsense(root: str | Path, partitioning: str, min_coverage: float):
    """(site rows, daily frames, monthly frames) of every CarbonSense site under ``root``."""
    rows, daily, monthly = [], [], []
    for site_dir in insitu.site_dirs(root):
        meta, day, month = read_carbonsense_site(site_dir, partitioning, min_coverage)
        rows.append(meta)
        daily.append(day)
        monthly.append(month)
    return rows, daily, monthly


def site_fluxes(
    root: str | Path,
    site: str,
    by_res: Mapping[str, Path],
    read: Callable[[Path], pd.DataFrame],
    min_coverage: float,
) -> tuple[pd.DataFrame | None, pd.DataFrame]:
    """(daily frame or None, monthly frame) of one site from its ONEFlux files ``by_res`` (resolution -> file in
    ``root``): daily values from DD, else HH or HR; monthly from MM, else from the daily values. ``read(path)``
    reads one file (:func:`terraflux.sources.insitu.read.read_fluxnet`); WW and YY files are not read. A site
    with neither daily nor monthly values is a DataError naming the files to add."""
    day = None
    if "DD" in by_res:
        day = from_aggregated(read(by_res["DD"]), min_coverage)
    elif "HH" in by_res or "HR" in by_res:
        res = "HH" if "HH" in by_res else "HR"
        day = daily_from_subdaily(read(by_res[res]), 48 if res == "HH" else 24, min_coverage)
    if "MM" in by_res:
        month = from_aggregated(read(by_res["MM"]), min_coverage)
    elif day is not None:
        month = monthly_from_daily(day, min_coverage)
    else:
        raise DataError(
            f"{root}: site {site} has no HH, HR, DD or MM file ({', '.join(p.name for p in by_res.values())}); "
            "the weekly or yearly files alone cannot give monthly fluxes: add the site's MM or DD file"
        )
    return (None if day is None else day.assign(site_id=site)), month.assign(site_id=site)


def read_fluxnet_dir(root: str | Path, partitioning: str, min_coverage: float):
    """(site rows, daily frames, monthly frames) of the ONEFlux site files under ``root``.

    Site coordinates come from the site list(s) in ``root`` (``sites.csv`` or BIF files,
    :mod:`terraflux.sources.insitu.sites`); the network from the product. Daily values from DD (else HH or
    HR), monthly from MM (else from daily): :func:`site_fluxes`.
    """
    root = Path(root)
    found = layout.survey(p for p in root.iterdir() if p.is_file())
    if not found.oneflux:
        raise DataError(f"{root}: no site found: {layout.nothing_usable(found)}; check the acquire step")
    files = layout.by_site(found.oneflux)
    table = site_lists.site_table(root, found.site_lists, sorted(files))
    rows, daily, monthly = [], [], []
    for info, (site, by_res) in zip(table.itertuples(), sorted(files.items()), strict=True):
        rows.append(
            {
                "site_id": site,
                "latitude": info.latitude,
                "longitude": info.longitude,
                "elevation": info.elevation,
                "igbp": info.igbp,
                "network": layout.parse_name(next(iter(by_res.values()))).network,
            }
        )
        day, month = site_fluxes(root, site, by_res, lambda path: insitu.read_fluxnet(path, partitioning), min_coverage)
        if day is not None:
            daily.append(day)
        monthly.append(month)
    return rows, daily, monthly


def period_table(frames: list[pd.DataFrame], start: pd.Timestamp, end: pd.Timestamp) -> pa.Table:
    """The rows of the flux ``frames`` (site_id, time, GPP, RECO, NEE, coverage) from ``start`` to ``end`` as one
    table, sorted by site and time."""
    columns = ["site_id", "time", *FLUXES, "coverage"]
    frame = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=columns)
    frame = frame[(frame["time"] >= start) & (frame["time"] <= end)] if len(frame) else frame
    frame = frame[columns].sort_values(["site_id", "time"], ignore_index=True)
    frame = frame.astype({"site_id": str, "GPP": "float32", "RECO": "float32", "NEE": "float32", "coverage": "float32"})
    frame["time"] = pd.to_datetime(frame["time"]).astype("datetime64[ns]")
    return pa.Table.from_pandas(frame, preserve_index=False)


def _write(table: pa.Table, path: str | Path, metadata: Mapping) -> None:
    attrs = dict(metadata)
    write_parquet(path, table, attrs.pop("provenance"), attrs)


def prepare_insitu(
    root: str | Path,
    *,
    fmt: str,
    cell_lat: Iterable[float],
    cell_lon: Iterable[float],
    sites_path: str | Path,
    daily_path: str | Path,
    monthly_path: str | Path,
    period: Mapping,
    partitioning: str,
    min_coverage: float,
    provenance: Mapping | None = None,
) -> pd.DataFrame:
    """Write sites, daily and monthly parquet tables for the sites under ``root``; return the site table."""
    if fmt == "carbonsense":
        rows, daily, monthly = read_carbonsense(root, partitioning, min_coverage)
    elif fmt == "fluxnet2015":
        rows, daily, monthly = read_fluxnet_dir(root, partitioning, min_coverage)
    else:
        raise DataError(f"config `sources.insitu.format`: unknown format {fmt!r} (carbonsense or fluxnet2015)")
    if not rows:
        raise DataError(f"{root}: no site found; check the acquire step of the in-situ data")
    cell_lat, cell_lon = np.asarray(cell_lat, float), np.asarray(cell_lon, float)
    table = pd.DataFrame(rows)
    sites = nearest_cells(table, cell_lat, cell_lon)
    check_on_grid(sites, table, cell_lat, cell_lon)
    keep = set(sites["site_id"])
    start = pd.Timestamp(int(period["start_year"]), 1, 1)
    end = pd.Timestamp(int(period["end_year"]), 12, 31)
    daily_table = period_table([d for d in daily if d["site_id"].iloc[0] in keep], start, end)
    kept_monthly = [m for m in monthly if m["site_id"].iloc[0] in keep]
    monthly_table = period_table(kept_monthly, start, end)
    check_in_period(kept_monthly, monthly_table.num_rows, period)
    meta = {
        "provenance": dict(provenance or {}),
        "units": {f: "gC m-2 d-1" for f in FLUXES},
        "partitioning": partitioning,
        "min_coverage": min_coverage,
        "format": fmt,
    }
    sites = sites[SITE_COLUMNS].astype({"site_id": str, "igbp": str, "network": str})
    _write(pa.Table.from_pandas(sites, preserve_index=False), sites_path, meta)
    _write(daily_table, daily_path, meta)
    _write(monthly_table, monthly_path, meta)
    return sites
