"""In-situ site files as tidy frames: CarbonSense v1 site folders and FLUXNET2015 site files.

CarbonSense (:func:`site_dirs`, :func:`read_meta`, :func:`read_targets`): hourly ``time, GPP, RECO, NEE`` in
umol CO2 m-2 s-1 from every period's ``targets.csv``. FLUXNET2015 (:func:`fluxnet_files`,
:func:`read_fluxnet`, :func:`read_site_list`): ``time`` (start of the period), ``GPP``, ``RECO``, ``NEE`` in
the file's units (:data:`~terraflux.sources.insitu.UNITS`) and ``qc``; any line ending is accepted (the
public YY files use old-Mac CR-only endings). Every reader names the file and what to do when it is empty,
truncated or lacks a column.
"""

from __future__ import annotations

import json
from pathlib import Path

from terraflux.errors import DataError
from terraflux.sources.insitu import (
    CARBONSENSE_FILES,
    CARBONSENSE_UNITS,
    FLUXNET_FILE,
    FLUXNET_GLOB,
    LAYOUTS,
    META_KEYS,
    MISSING,
    SITES_COLUMNS,
    SITES_FILE,
    TIME_FORMATS,
    UNITS,
    flux_columns,
)

import numpy as np
import pandas as pd

META, _, TARGETS = CARBONSENSE_FILES


def site_dirs(root: str | Path) -> list[Path]:
    """Site folders under a CarbonSense root (those holding at least one period with targets.csv)."""
    root = Path(root)
    return sorted(p for p in root.iterdir() if p.is_dir() and any(p.glob(f"*/{TARGETS}")))


def read_meta(site_dir: str | Path) -> dict:
    """The site's metadata (first period's ``meta.json``) as a dict with site_id, latitude, longitude, ..."""
    site_dir = Path(site_dir)
    metas = sorted(site_dir.glob(f"*/{META}"))
    if not metas:
        raise DataError(f"{site_dir}: no meta.json in any period folder; the CarbonSense site folder is incomplete")
    try:
        meta = json.loads(metas[0].read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise DataError(f"{metas[0]}: not valid JSON ({error}); re-extract the CarbonSense archive") from error
    missing = [k for k in META_KEYS if k not in meta]
    if missing:
        raise DataError(f"{metas[0]}: lacks {missing}; re-extract the CarbonSense archive")
    sources = meta.get("SOURCES", [])
    network = sources[0] if isinstance(sources, list) and sources else (sources or "unknown")
    return {
        "site_id": str(meta["SITE_ID"]),
        "latitude": float(meta["LOCATION_LAT"]),
        "longitude": float(meta["LOCATION_LON"]),
        "elevation": float(meta.get("LOCATION_ELEV", np.nan) if meta.get("LOCATION_ELEV") is not None else np.nan),
        "igbp": str(meta.get("IGBP", "")),
        "network": str(network),
    }


def read_targets(site_dir: str | Path, partitioning: str) -> pd.DataFrame:
    """All periods' ``targets.csv`` of a site -> hourly frame ``time, GPP, RECO, NEE`` (umol CO2 m-2 s-1)."""
    columns = flux_columns(partitioning)
    parts = []
    for path in sorted(Path(site_dir).glob(f"*/{TARGETS}")):
        if path.stat().st_size == 0:
            raise DataError(f"{path}: the site file is empty; re-extract the CarbonSense archive")
        try:
            frame = pd.read_csv(path)
        except (pd.errors.EmptyDataError, pd.errors.ParserError) as error:
            raise DataError(f"{path}: cannot be parsed as CSV ({error}); re-extract the CarbonSense archive") from error
        if frame.empty:
            raise DataError(f"{path}: the site file has a header but no data rows; re-extract the CarbonSense archive")
        missing = [c for c in ["timestamp", *columns.values()] if c not in frame.columns]
        if missing:
            raise DataError(f"{path}: lacks the column(s) {missing}; it is not a CarbonSense v1 targets file")
        out = pd.DataFrame({"time": pd.to_datetime(frame["timestamp"]).to_numpy()})
        for name, column in columns.items():
            out[name] = pd.to_numeric(frame[column], errors="coerce").to_numpy(dtype="float64")
        parts.append(out)
    if not parts:
        raise DataError(f"{site_dir}: no targets.csv found; re-extract the CarbonSense archive")
    frame = pd.concat(parts, ignore_index=True).drop_duplicates("time").sort_values("time", ignore_index=True)
    frame.attrs["units"] = CARBONSENSE_UNITS
    return frame


def parse_name(path: str | Path) -> tuple[str, str]:
    """(site id, resolution) from a FLUXNET2015 file name; DataError if it does not follow the convention."""
    match = FLUXNET_FILE.match(Path(path).name)
    if not match:
        raise DataError(f"{path}: not a FLUXNET2015 file name ({LAYOUTS['fluxnet2015']})")
    return match["site"], match["res"]


def fluxnet_files(root: str | Path) -> dict[str, dict[str, Path]]:
    """The FLUXNET2015 files under ``root``: site -> resolution -> path."""
    files: dict[str, dict[str, Path]] = {}
    for path in sorted(Path(root).glob(FLUXNET_GLOB)):
        site, res = parse_name(path)
        files.setdefault(site, {})[res] = path
    return files


def read_site_list(root: str | Path) -> pd.DataFrame:
    """The ``sites.csv`` beside FLUXNET2015 files (SITE_ID, LOCATION_LAT, LOCATION_LON, LOCATION_ELEV, IGBP)."""
    table = Path(root) / SITES_FILE
    if not table.exists():
        raise DataError(
            f"{table}: missing; FLUXNET2015 files carry no coordinates: list {', '.join(SITES_COLUMNS)} there"
        )
    return pd.read_csv(table)


def read_fluxnet(path: str | Path, partitioning: str) -> pd.DataFrame:
    """One site file -> frame with ``time`` (start of the period), ``GPP``, ``RECO``, ``NEE`` (file units, see
    module doc; ``attrs['units']``) and ``qc`` (``NEE_VUT_REF_QC``, NaN when absent); -9999 -> NaN."""
    path = Path(path)
    site, res = parse_name(path)
    if not path.exists() or path.stat().st_size == 0:
        raise DataError(f"{path}: the site file is empty; rerun the acquire step for site {site}")
    try:
        frame = pd.read_csv(path, na_values=[MISSING, str(MISSING)], low_memory=False)
    except (pd.errors.EmptyDataError, pd.errors.ParserError, UnicodeDecodeError) as error:
        raise DataError(f"{path}: cannot be parsed as CSV ({error}); rerun the acquire step for site {site}") from error
    if frame.empty:
        raise DataError(f"{path}: the site file has a header but no data rows; rerun the acquire step for site {site}")
    columns = flux_columns(partitioning)
    missing = [c for c in columns.values() if c not in frame.columns]
    stamp = "TIMESTAMP_START" if "TIMESTAMP_START" in frame.columns else "TIMESTAMP"
    if stamp not in frame.columns:
        missing.insert(0, "TIMESTAMP")
    if missing:
        raise DataError(
            f"{path}: the file lacks the flux column(s) {missing} (has {len(frame.columns)} columns); "
            "it is not a FLUXNET2015 FULLSET file. Use the FULLSET product"
        )
    text = frame[stamp].astype("int64").astype(str)
    try:
        time = pd.to_datetime(text, format=TIME_FORMATS[res])
    except ValueError as error:
        raise DataError(f"{path}: column {stamp} does not hold {TIME_FORMATS[res]} timestamps ({error})") from error
    out = pd.DataFrame({"time": time.to_numpy()})
    for name, column in columns.items():
        out[name] = pd.to_numeric(frame[column], errors="coerce").astype("float64").to_numpy()
    qc = frame.get("NEE_VUT_REF_QC")
    out["qc"] = pd.to_numeric(qc, errors="coerce").astype("float64").to_numpy() if qc is not None else np.nan
    out.attrs.update(site=site, resolution=res, units=UNITS[res], source=str(path))
    return out
