"""FLUXNET2015 / ONEFlux FULLSET site files (HH, DD, WW, MM, YY) as tidy frames of GPP, RECO, NEE.

File names ``FLX_{SITE}_FLUXNET2015_FULLSET_{RES}_{Y0}-{Y1}_{v}.csv``; ``-9999`` is missing. Any line ending
is accepted (the public YY files use old-Mac CR-only endings). Units of the flux columns: umol CO2 m-2 s-1
(HH), gC m-2 d-1 (DD, WW, MM: mean of daily sums), gC m-2 y-1 (YY). ``NEE_VUT_REF_QC`` is the quality flag
(0 measured, 1 good gap-filling, 2-3 poor) in HH files and the fraction of measured / good-quality gap-filled
records in aggregated files.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

from terraflux.errors import DataError

NAME = re.compile(r"FLX_(?P<site>[A-Za-z]{2}-[A-Za-z0-9]{3})_FLUXNET2015_(?P<set>[A-Z]+)_(?P<res>HH|HR|DD|WW|MM|YY)_")
TIME_FORMATS = {"HH": "%Y%m%d%H%M", "HR": "%Y%m%d%H%M", "DD": "%Y%m%d", "WW": "%Y%m%d", "MM": "%Y%m", "YY": "%Y"}
UNITS = {"HH": "umol CO2 m-2 s-1", "HR": "umol CO2 m-2 s-1", "DD": "gC m-2 d-1", "WW": "gC m-2 d-1", "MM": "gC m-2 d-1", "YY": "gC m-2 y-1"}


def parse_name(path: str | Path) -> tuple[str, str]:
    """(site id, resolution) from a FLUXNET2015 file name; DataError if it does not follow the convention."""
    match = NAME.search(Path(path).name)
    if not match:
        raise DataError(f"{path}: not a FLUXNET2015 file name (FLX_<SITE>_FLUXNET2015_FULLSET_<HH|DD|WW|MM|YY>_...csv)")
    return match["site"], match["res"]


def flux_columns(partitioning: str = "NT") -> dict[str, str]:
    """Output name -> ONEFlux column (night-time ``NT`` or day-time ``DT`` partitioning for GPP and RECO)."""
    return {"GPP": f"GPP_{partitioning}_VUT_REF", "RECO": f"RECO_{partitioning}_VUT_REF", "NEE": "NEE_VUT_REF"}


def read_fluxnet(path: str | Path, partitioning: str = "NT") -> pd.DataFrame:
    """One site file -> frame with ``time`` (start of the period), ``GPP``, ``RECO``, ``NEE`` (file units, see
    module doc; ``attrs['units']``) and ``qc`` (``NEE_VUT_REF_QC``, NaN when absent); -9999 -> NaN."""
    path = Path(path)
    site, res = parse_name(path)
    if not path.exists() or path.stat().st_size == 0:
        raise DataError(f"{path}: the site file is empty; rerun the acquire step for site {site}")
    try:
        frame = pd.read_csv(path, na_values=[-9999, "-9999"], low_memory=False)
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
