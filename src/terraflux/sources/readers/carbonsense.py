"""CarbonSense v1 site folders: ``{SITE}/{YYYY-MM-DD_YYYY-MM-DD}/{meta.json, predictors.csv, targets.csv}``.

``targets.csv``: ``timestamp`` and ONEFlux flux columns (``NEE_VUT_REF``, ``GPP_NT_VUT_REF``, ...) hourly in
umol CO2 m-2 s-1. ``meta.json``: SITE_ID, LOCATION_LAT, LOCATION_LON, LOCATION_ELEV, IGBP, SOURCES. The
``modis.pkl`` files are never read (no unpickling of downloaded files).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from terraflux.errors import DataError
from terraflux.sources.readers.fluxnet import flux_columns

META_KEYS = ("SITE_ID", "LOCATION_LAT", "LOCATION_LON")


def site_dirs(root: str | Path) -> list[Path]:
    """Site folders under a CarbonSense root (those holding at least one period with targets.csv)."""
    root = Path(root)
    return sorted(p for p in root.iterdir() if p.is_dir() and any(p.glob("*/targets.csv")))


def read_meta(site_dir: str | Path) -> dict:
    """The site's metadata (first period's ``meta.json``) as a dict with site_id, latitude, longitude, ..."""
    site_dir = Path(site_dir)
    metas = sorted(site_dir.glob("*/meta.json"))
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


def read_targets(site_dir: str | Path, partitioning: str = "NT") -> pd.DataFrame:
    """All periods' ``targets.csv`` of a site -> hourly frame ``time, GPP, RECO, NEE`` (umol CO2 m-2 s-1)."""
    columns = flux_columns(partitioning)
    parts = []
    for path in sorted(Path(site_dir).glob("*/targets.csv")):
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
    frame.attrs["units"] = "umol CO2 m-2 s-1"
    return frame
