"""In-situ site files written from frames: CarbonSense v1 site folders, ONEFlux site files of every product
read (:data:`~terraflux.sources.insitu.ONEFLUX_NAMES`), site lists (``sites.csv``, BIF) and AmeriFlux BASE files.

A *site* is a mapping with ``site_id``, ``latitude``, ``longitude`` (degrees), ``elevation`` (m), ``igbp`` and
``network`` (the keys :func:`terraflux.sources.insitu.read.read_meta` returns). CSV floats are rounded to a
fixed number of decimals and written in their shortest form; NaN is an empty field in CarbonSense files and
``-9999`` in ONEFlux and BASE files (columns a writer is not given stay ``-9999``).
"""

from __future__ import annotations

import io
import json
from collections.abc import Mapping, Sequence
from pathlib import Path

from terraflux.sources.insitu import (
    BASE_HEADER,
    BASE_NAME,
    CARBONSENSE_FILES,
    MISSING,
    PAIRED_STAMPS,
    SITE_LIST_COLUMNS,
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


#: Length of a record at each resolution with a pair of time stamps (TIMESTAMP_END = start + this).
RECORD_LENGTH = {"HH": pd.Timedelta(minutes=30), "HR": pd.Timedelta(hours=1), "WW": pd.Timedelta(days=6)}


def _stamps(periods: Sequence, resolution: str) -> dict[str, list[str]]:
    """The time column(s) of a ONEFlux file: TIMESTAMP, or TIMESTAMP_START and TIMESTAMP_END."""
    fmt = TIME_FORMATS[resolution]
    starts = pd.Index(periods)
    starts = pd.DatetimeIndex(starts.to_timestamp() if isinstance(starts, pd.PeriodIndex) else starts)
    if resolution not in PAIRED_STAMPS:
        return {"TIMESTAMP": list(starts.strftime(fmt))}
    ends = starts + RECORD_LENGTH[resolution]
    return {"TIMESTAMP_START": list(starts.strftime(fmt)), "TIMESTAMP_END": list(ends.strftime(fmt))}


def fluxnet_file(
    root: str | Path,
    site: Mapping,
    resolution: str,
    first_year: int,
    last_year: int,
    version: str,
    periods: Sequence,
    columns: Mapping[str, np.ndarray | float],
    product: str = "FLUXNET2015",
    network: str = "",
) -> Path:
    """One ONEFlux site file under ``root`` named as ``product`` names it (``network``: the network code of a
    FLUXNET (v1.3) file); returns it.

    ``periods`` [N]: the rows' start times (datetimes or periods), written as ``TIMESTAMP`` (DD, MM, YY) or
    ``TIMESTAMP_START`` and ``TIMESTAMP_END`` (HH, HR, WW). Aggregated files (DD, WW, MM, YY) have every FULLSET
    column, the ones the caller has from ``columns`` (file units), the others -9999; HH and HR files have the
    ``columns`` given.
    """
    names = fullset_columns()[1:]
    if resolution in ("HH", "HR"):
        names = list(columns)
    unknown = sorted(set(columns) - set(names))
    if unknown:
        raise ValueError(f"{unknown} are not columns of the aggregated ONEFlux FULLSET files")
    stamps = _stamps(periods, resolution)
    rows = len(periods)
    values = {name: np.broadcast_to(np.asarray(columns.get(name, MISSING), dtype=np.float64), rows) for name in names}
    table = pd.DataFrame({**stamps, **values})
    name = fluxnet_file_name(site["site_id"], resolution, first_year, last_year, version, product, network)
    path = Path(root) / name
    write_csv(table, path, decimals=5, final_newline=False)
    return path


def site_list(root: str | Path, sites: Sequence[Mapping]) -> Path:
    """``sites.csv`` (:data:`~terraflux.sources.insitu.SITE_LIST_COLUMNS` and NETWORK) beside ONEFlux files;
    returns it."""
    keys = ("site_id", "latitude", "longitude", "elevation", "igbp")
    table = pd.DataFrame(
        [{**{c: s[k] for c, k in zip(SITE_LIST_COLUMNS, keys, strict=True)}, "NETWORK": s["network"]} for s in sites]
    )
    path = Path(root) / SITES_FILE
    table.to_csv(path, index=False)
    return path


def bif_file(path: str | Path, sites: Sequence[Mapping]) -> Path:
    """The sites' location and IGBP class as a BIF file (BADM long form: SITE_ID, GROUP_ID, VARIABLE_GROUP,
    VARIABLE, DATAVALUE) at ``path``, named as the service names it (e.g. ``ICOSETC_{SITE}_SITEINFO_L2.csv``);
    returns it. An unknown (NaN) elevation has no row, as in the services' files."""
    rows = []
    for number, site in enumerate(sites):
        location = {
            "LOCATION_LAT": site["latitude"],
            "LOCATION_LONG": site["longitude"],
            "LOCATION_ELEV": site["elevation"],
        }
        for variable, value in location.items():
            if not pd.isna(value):
                rows.append((site["site_id"], 1000 + number, "GRP_LOCATION", variable, value))
        rows.append((site["site_id"], 2000 + number, "GRP_IGBP", "IGBP", site["igbp"]))
    table = pd.DataFrame(rows, columns=["SITE_ID", "GROUP_ID", "VARIABLE_GROUP", "VARIABLE", "DATAVALUE"])
    table.to_csv(path, index=False)
    return Path(path)


def ameriflux_base_file(
    root: str | Path, site: str, resolution: str, version: str, periods: Sequence, columns: Mapping[str, np.ndarray]
) -> Path:
    """An AmeriFlux BASE file (HH or HR): the two comment lines, TIMESTAMP_START, TIMESTAMP_END and
    ``columns`` (e.g. FC, TA; -9999 for NaN); returns it."""
    table = pd.DataFrame(_stamps(periods, resolution))
    for name, values in columns.items():
        table[name] = np.where(np.isnan(values), MISSING, values)
    path = Path(root) / BASE_NAME.format(site=site, res=resolution, version=version)
    write_csv(table, path, decimals=5)
    header = "\n".join(line.format(site=site, version=version) for line in BASE_HEADER)
    path.write_text(header + "\n" + path.read_text())
    return path
