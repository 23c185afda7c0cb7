"""In-situ site files written from frames: CarbonSense v1 site folders and FLUXNET2015 FULLSET files.

A *site* is a mapping with ``site_id``, ``latitude``, ``longitude`` (degrees), ``elevation`` (m), ``igbp`` and
``network`` (the keys :func:`terraflux.sources.insitu.read.read_meta` returns). CSV floats are rounded to a
fixed number of decimals and written in their shortest form; NaN is an empty field in CarbonSense files and
``-9999`` in FLUXNET files (columns a writer is not given stay ``-9999``).
"""

from __future__ import annotations

import io
import json
from collections.abc import Mapping, Sequence
from pathlib import Path

from terraflux.sources.insitu import (
    CARBONSENSE_FILES,
    MISSING,
    SITES_FILE,
    TARGET_COLUMNS,
    TIME_FORMATS,
    TIMESTAMP_FORMAT,
    fluxnet_file_name,
    fullset_columns,
    period_folder,
)

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv

META, PREDICTORS, TARGETS = CARBONSENSE_FILES


def write_csv(table: pd.DataFrame, path: Path, decimals: int, final_newline: bool = True) -> None:
    """CSV with floats rounded to ``decimals`` (shortest representation), NaN as empty fields (pyarrow's
    writer); ``final_newline=False`` ends the file without one, as the published FLUXNET2015 files do."""
    columns = {}
    for name in table.columns:
        values = table[name].to_numpy()
        if values.dtype.kind == "f":
            values = np.round(values, decimals)
        columns[name] = pa.array(values, from_pandas=True)
    buffer = io.BytesIO()
    pacsv.write_csv(pa.table(columns), buffer, pacsv.WriteOptions(include_header=False, quoting_style="none"))
    text = ",".join(table.columns) + "\n" + buffer.getvalue().decode()
    path.write_text(text if final_newline else text.rstrip("\n"))


def carbonsense_site(
    root: str | Path,
    site: Mapping,
    times: pd.Series,
    targets: Mapping[str, np.ndarray],
    predictors: Mapping[str, np.ndarray],
) -> Path:
    """One site's period folder under ``root``; returns it.

    ``times`` [T]: record start times (hourly); ``targets``: the flux columns of ``targets.csv``
    (:data:`~terraflux.sources.insitu.TARGET_COLUMNS`, umol CO2 m-2 s-1, NaN = gap); ``predictors``: the columns
    of ``predictors.csv`` after ``timestamp`` (min-max normalised), in file order.
    """
    if tuple(targets) != TARGET_COLUMNS:
        raise ValueError(f"CarbonSense targets are {TARGET_COLUMNS} in this order, not {tuple(targets)}")
    first, last = times.iloc[0], times.iloc[-1]
    folder = Path(root) / site["site_id"] / period_folder(first, last)
    folder.mkdir(parents=True)
    stamp = times.dt.strftime(TIMESTAMP_FORMAT)
    write_csv(pd.DataFrame({"timestamp": stamp, **targets}), folder / TARGETS, decimals=5)
    write_csv(pd.DataFrame({"timestamp": stamp, **predictors}), folder / PREDICTORS, decimals=6)
    meta = {
        "SITE_ID": site["site_id"],
        "LOCATION_LAT": site["latitude"],
        "LOCATION_LON": site["longitude"],
        "LOCATION_ELEV": site["elevation"],
        "IGBP": site["igbp"],
        "SOURCES": [site["network"]],
        "TIME": {"start": f"{first:{TIMESTAMP_FORMAT}}", "end": f"{last:{TIMESTAMP_FORMAT}}"},
    }
    (folder / META).write_text(json.dumps(meta, indent=2) + "\n")
    return folder


def fluxnet_file(
    root: str | Path,
    site: Mapping,
    resolution: str,
    first_year: int,
    last_year: int,
    version: str,
    periods: Sequence,
    columns: Mapping[str, np.ndarray | float],
) -> Path:
    """One aggregated FULLSET file (DD, WW, MM or YY) under ``root``; returns it.

    ``periods`` [N]: the rows' periods (anything with ``strftime``), written as ``TIMESTAMP``; ``columns``:
    values of the FULLSET columns the caller has (file units; the others stay -9999).
    """
    names = fullset_columns()
    unknown = sorted(set(columns) - set(names[1:]))
    if unknown:
        raise ValueError(f"{unknown} are not columns of the FLUXNET2015 FULLSET files")
    table = pd.DataFrame(MISSING, index=range(len(periods)), columns=names, dtype=np.float64)
    table["TIMESTAMP"] = [p.strftime(TIME_FORMATS[resolution]) for p in periods]
    for name in names[1:]:
        if name in columns:
            table[name] = columns[name]
    path = Path(root) / fluxnet_file_name(site["site_id"], resolution, first_year, last_year, version)
    write_csv(table, path, decimals=5, final_newline=False)
    return path


def site_list(root: str | Path, sites: Sequence[Mapping]) -> Path:
    """``sites.csv`` beside FLUXNET2015 files (the files carry no coordinates); returns it."""
    table = pd.DataFrame(
        [
            {
                "SITE_ID": s["site_id"],
                "LOCATION_LAT": s["latitude"],
                "LOCATION_LON": s["longitude"],
                "LOCATION_ELEV": s["elevation"],
                "IGBP": s["igbp"],
                "NETWORK": s["network"],
            }
            for s in sites
        ]
    )
    path = Path(root) / SITES_FILE
    table.to_csv(path, index=False)
    return path
