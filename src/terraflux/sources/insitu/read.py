"""In-situ site files as tidy frames: CarbonSense v1 site folders and ONEFlux site files.

CarbonSense (:func:`site_dirs`, :func:`read_meta`, :func:`read_targets`): hourly ``time, GPP, RECO, NEE`` in
umol CO2 m-2 s-1 from every period's ``targets.csv``. ONEFlux (:func:`fluxnet_files`, :func:`read_fluxnet`):
``time`` (start of the period), ``GPP``, ``RECO``, ``NEE`` in the file's units
(:data:`~terraflux.sources.insitu.UNITS`) and ``qc``; any line ending is accepted (the public FLUXNET2015 YY
files use old-Mac CR-only endings). Site lists: :mod:`terraflux.sources.insitu.sites`.

Every reader names the file and what to do when it is empty, truncated or lacks a column; every cell read
is checked (:mod:`terraflux.sources.insitu.tables`): a non-number, a bad time or a row of commas stops with
the file, line and column.
"""

from __future__ import annotations

import json
from pathlib import Path

from terraflux.errors import DataError
from terraflux.sources.insitu import (
    CARBONSENSE_FILES,
    CARBONSENSE_UNITS,
    META_KEYS,
    MISSING,
    TIME_FORMATS,
    TIMESTAMP_FORMAT,
    UNITS,
    flux_columns,
    layout,
    tables,
)

import numpy as np
import pandas as pd

META, _, TARGETS = CARBONSENSE_FILES
CARBONSENSE_ADVICE = "re-extract the CarbonSense archive"


def site_dirs(root: str | Path) -> list[Path]:
    """Site folders under a CarbonSense root (those holding at least one period with targets.csv)."""
    root = Path(root)
    return sorted(p for p in root.iterdir() if p.is_dir() and any(p.glob(f"*/{TARGETS}")))


def _meta_number(path: Path, meta: dict, key: str, required: bool) -> float:
    value = meta.get(key)
    if value is None or value == "":
        if required:
            raise DataError(f"{path}: {key} is empty; {CARBONSENSE_ADVICE}")
        return np.nan
    try:
        return float(value)
    except (TypeError, ValueError):
        raise DataError(f"{path}: {key} is {value!r}, not a number; correct it or {CARBONSENSE_ADVICE}") from None


def read_meta(site_dir: str | Path) -> dict:
    """The site's metadata (first period's ``meta.json``) as a dict with site_id, latitude, longitude, ..."""
    site_dir = Path(site_dir)
    metas = sorted(site_dir.glob(f"*/{META}"))
    if not metas:
        raise DataError(f"{site_dir}: no meta.json in any period folder; the CarbonSense site folder is incomplete")
    try:
        meta = json.loads(metas[0].read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise DataError(f"{metas[0]}: not valid JSON ({error}); {CARBONSENSE_ADVICE}") from error
    missing = [k for k in META_KEYS if k not in meta]
    if missing:
        raise DataError(f"{metas[0]}: lacks {missing}; {CARBONSENSE_ADVICE}")
    sources = meta.get("SOURCES", [])
    network = sources[0] if isinstance(sources, list) and sources else (sources or "unknown")
    return {
        "site_id": str(meta["SITE_ID"]),
        "latitude": _meta_number(metas[0], meta, "LOCATION_LAT", required=True),
        "longitude": _meta_number(metas[0], meta, "LOCATION_LON", required=True),
        "elevation": _meta_number(metas[0], meta, "LOCATION_ELEV", required=False),
        "igbp": str(meta.get("IGBP", "")),
        "network": str(network),
    }


def read_targets(site_dir: str | Path, partitioning: str) -> pd.DataFrame:
    """All periods' ``targets.csv`` of a site -> hourly frame ``time, GPP, RECO, NEE`` (umol CO2 m-2 s-1)."""
    columns = flux_columns(partitioning)
    wanted = {"timestamp", *columns.values()}
    parts = []
    for path in sorted(Path(site_dir).glob(f"*/{TARGETS}")):
        if path.stat().st_size == 0:
            raise DataError(f"{path}: the site file is empty; {CARBONSENSE_ADVICE}")
        frame = tables.read_text(path, lambda c: c in wanted, CARBONSENSE_ADVICE)
        if frame.empty:
            raise DataError(f"{path}: the site file has a header but no data rows; {CARBONSENSE_ADVICE}")
        missing = sorted(wanted - set(frame.columns))
        if missing:
            raise DataError(f"{path}: lacks the column(s) {missing}; it is not a CarbonSense v1 targets file")
        tables.check_no_empty_rows(path, frame)
        out = pd.DataFrame({"time": tables.times(path, frame, "timestamp", TIMESTAMP_FORMAT)})
        for name, column in columns.items():
            out[name] = tables.numbers(path, frame, column, missing=None)
        parts.append(out)
    if not parts:
        raise DataError(f"{site_dir}: no targets.csv found; {CARBONSENSE_ADVICE}")
    frame = pd.concat(parts, ignore_index=True).drop_duplicates("time").sort_values("time", ignore_index=True)
    frame.attrs["units"] = CARBONSENSE_UNITS
    return frame


def fluxnet_files(root: str | Path) -> dict[str, dict[str, Path]]:
    """The ONEFlux files directly under ``root``: site -> resolution -> path (one file each)."""
    return layout.by_site(layout.survey(p for p in Path(root).iterdir() if p.is_file()).oneflux)


def read_fluxnet(path: str | Path, partitioning: str) -> pd.DataFrame:
    """One ONEFlux site file -> frame [N rows] with ``time`` (start of the period), ``GPP``, ``RECO``, ``NEE``
    (file units, see module doc; ``attrs['units']``) and ``qc`` (``NEE_VUT_REF_QC``, NaN when absent);
    -9999 -> NaN. ``attrs`` also hold site, resolution, network, product and source (the path)."""
    path = Path(path)
    name = layout.parse_name(path)
    advice = f"download the site's file again (site {name.site})"
    if not path.exists() or path.stat().st_size == 0:
        raise DataError(f"{path}: the site file is empty; {advice}")
    columns = flux_columns(partitioning)
    wanted = {"TIMESTAMP_START", "TIMESTAMP", *columns.values(), "NEE_VUT_REF_QC"}
    frame = tables.read_text(path, lambda c: c in wanted, advice)
    stamp = "TIMESTAMP_START" if "TIMESTAMP_START" in frame.columns else "TIMESTAMP"
    missing = [c for c in (stamp, *columns.values()) if c not in frame.columns]
    if missing:
        raise DataError(
            f"{path}: the file lacks the column(s) {missing}; it is not a ONEFlux FULLSET file. Use the FULLSET "
            f"(FLUXNET2015, AmeriFlux FLUXNET) or FLUXNET (ICOS, ONEFlux v1.3) product of site {name.site}"
        )
    if frame.empty:
        raise DataError(f"{path}: the site file has a header but no data rows; {advice}")
    tables.check_no_empty_rows(path, frame)
    out = pd.DataFrame({"time": tables.times(path, frame, stamp, TIME_FORMATS[name.resolution])})
    for key, column in columns.items():
        out[key] = tables.numbers(path, frame, column, missing=MISSING)
    has_qc = "NEE_VUT_REF_QC" in frame.columns
    out["qc"] = tables.numbers(path, frame, "NEE_VUT_REF_QC", missing=MISSING) if has_qc else np.nan
    out.attrs.update(
        site=name.site,
        resolution=name.resolution,
        units=UNITS[name.resolution],
        network=name.network,
        product=name.product,
        source=str(path),
    )
    return out
