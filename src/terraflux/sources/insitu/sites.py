"""Site lists beside ONEFlux files: coordinates, elevation and IGBP class of each site.

Two forms (:mod:`terraflux.sources.insitu`): ``sites.csv``, one row per site with the columns
:data:`~terraflux.sources.insitu.SITE_LIST_COLUMNS`, and BIF files (BADM in long form: one row per
``SITE_ID, VARIABLE, DATAVALUE``; rows of other variables are skipped, as are extra fields). A site listed
in several files takes its first entry (``sites.csv`` first, then the BIF files by name); a BIF site with
several locations (a moved tower) takes its first and the others are logged.

Every value used is checked: an empty or non-numeric latitude or longitude, one out of range, or a
non-numeric elevation stops with the file, line and column; an empty or -9999 elevation is unknown (NaN).
"""

from __future__ import annotations

import csv
import logging
import math
from collections.abc import Iterable
from pathlib import Path

from terraflux.errors import DataError
from terraflux.sources.insitu import (
    BIF_COLUMNS,
    BIF_VARIABLES,
    LATITUDE_RANGE,
    LONGITUDE_RANGE,
    MISSING,
    SITE_LIST_ADVICE,
    SITE_LIST_ALIASES,
    SITE_LIST_COLUMNS,
    SITES_FILE,
)

import numpy as np
import pandas as pd

log = logging.getLogger(__name__)

#: Columns of the frames returned (``source``: the file the site's row came from).
COLUMNS = ("site_id", "latitude", "longitude", "elevation", "igbp", "source")
_LAT, _LON, _ELEV, _IGBP = BIF_VARIABLES


def _rows(path: Path) -> tuple[list[str], list[tuple[int, list[str]]]]:
    """Header and (line, fields) of every non-blank row of a CSV file (fields stripped; any line ending)."""
    try:
        with open(path, newline="", encoding="utf-8-sig", errors="replace") as handle:
            reader = csv.reader(handle)
            rows = [(reader.line_num, [f.strip() for f in fields]) for fields in reader if fields]
    except csv.Error as error:
        raise DataError(f"{path}: cannot be parsed as CSV ({error}); correct the file") from error
    if not rows:
        raise DataError(f"{path}: the site list is empty; {SITE_LIST_ADVICE}")
    return rows[0][1], rows[1:]


def _number(path: Path, line: int, column: str, text: str, bounds: tuple[float, float] | None) -> float:
    """A coordinate (``bounds`` given: required, within them) or an elevation (empty or -9999: NaN)."""
    if text == "":
        if bounds is None:
            return np.nan
        raise DataError(f"{path}: line {line}, column {column} is empty: give the site's coordinates (degrees)")
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        raise DataError(f"{path}: line {line}, column {column} holds {text!r}, not a number: correct that cell")
    if bounds is None:
        return np.nan if value == MISSING else value
    if not bounds[0] <= value <= bounds[1]:
        raise DataError(
            f"{path}: line {line}, column {column} holds {value:g}, outside {bounds[0]:g}..{bounds[1]:g} "
            "(degrees north / east): correct that cell"
        )
    return value


def read_site_table(path: str | Path) -> pd.DataFrame:
    """``sites.csv`` -> one row per site (:data:`COLUMNS`); two different rows of one site are an error."""
    path = Path(path)
    header, rows = _rows(path)
    for alias, name in SITE_LIST_ALIASES.items():
        if alias in header and name not in header:
            header[header.index(alias)] = name
    required = SITE_LIST_COLUMNS[:3]
    missing = [name for name in required if name not in header]
    if missing:
        raise DataError(f"{path}: lacks the column(s) {missing} (has {header}); {SITE_LIST_ADVICE}")
    at = {name: header.index(name) for name in SITE_LIST_COLUMNS if name in header}
    out: dict[str, dict] = {}
    lines: dict[str, int] = {}
    for line, fields in rows:
        cells = {name: fields[i] if i < len(fields) else "" for name, i in at.items()}
        if not any(fields):
            raise DataError(f"{path}: line {line} holds no value (a row of only commas): delete that line")
        site = cells["SITE_ID"]
        if not site:
            raise DataError(f"{path}: line {line}, column SITE_ID is empty: give the site id (e.g. FR-Pue)")
        row = {
            "site_id": site,
            "latitude": _number(path, line, "LOCATION_LAT", cells["LOCATION_LAT"], LATITUDE_RANGE),
            "longitude": _number(path, line, "LOCATION_LONG", cells["LOCATION_LONG"], LONGITUDE_RANGE),
            "elevation": _number(path, line, "LOCATION_ELEV", cells.get("LOCATION_ELEV", ""), None),
            "igbp": cells.get("IGBP", ""),
            "source": str(path),
        }
        if site in out and _differ(out[site], row):
            raise DataError(
                f"{path}: site {site} has two different rows (lines {lines[site]} and {line}): keep one of them"
            )
        out.setdefault(site, row)
        lines.setdefault(site, line)
    if not out:
        raise DataError(f"{path}: the site list has a header but no rows; {SITE_LIST_ADVICE}")
    return pd.DataFrame(list(out.values()), columns=list(COLUMNS))


def _differ(a: dict, b: dict) -> bool:
    """True when two rows of a site disagree (NaN equals NaN)."""
    return any(
        a[k] != b[k] and not (a[k] != a[k] and b[k] != b[k]) for k in ("latitude", "longitude", "elevation", "igbp")
    )


def read_bif(path: str | Path, sites: Iterable[str]) -> pd.DataFrame:
    """The locations of ``sites`` in a BIF file (:data:`COLUMNS`; sites it does not list are left out)."""
    path = Path(path)
    header, rows = _rows(path)
    missing = [name for name in BIF_COLUMNS if name not in header]
    if missing:
        raise DataError(f"{path}: lacks the column(s) {missing} of a BIF file (has {header}); {SITE_LIST_ADVICE}")
    i_site, i_var, i_value = (header.index(name) for name in BIF_COLUMNS)
    wanted = set(sites)
    found: dict[str, dict[str, tuple[int, str]]] = {}
    for line, fields in rows:
        if len(fields) <= max(i_site, i_var, i_value):
            continue
        site, variable, value = fields[i_site], fields[i_var], fields[i_value]
        if site not in wanted or variable not in BIF_VARIABLES:
            continue
        entries = found.setdefault(site, {})
        if variable in entries and entries[variable][1] != value:
            log.warning("%s: site %s has several %s; line %d is used", path, site, variable, entries[variable][0])
        entries.setdefault(variable, (line, value))
    out = []
    for site, entries in sorted(found.items()):
        for variable in (_LAT, _LON):
            if variable not in entries:
                raise DataError(f"{path}: no {variable} for site {site}; {SITE_LIST_ADVICE}")
        out.append(
            {
                "site_id": site,
                "latitude": _number(path, entries[_LAT][0], f"DATAVALUE of {_LAT}", entries[_LAT][1], LATITUDE_RANGE),
                "longitude": _number(path, entries[_LON][0], f"DATAVALUE of {_LON}", entries[_LON][1], LONGITUDE_RANGE),
                "elevation": _elevation(path, entries),
                "igbp": entries.get(_IGBP, (0, ""))[1],
                "source": str(path),
            }
        )
    return pd.DataFrame(out, columns=list(COLUMNS))


def _elevation(path: Path, entries: dict[str, tuple[int, str]]) -> float:
    line, text = entries.get(_ELEV, (0, ""))
    return _number(path, line, f"DATAVALUE of {_ELEV}", text, None)


def site_table(folder: str | Path, files: Iterable[Path], sites: Iterable[str]) -> pd.DataFrame:
    """One row per site of ``sites`` (:data:`COLUMNS`, in the order of ``sites``) from the site lists
    ``files`` (``sites.csv`` and BIF files) of ``folder``. No list, or a site in none of them, is a DataError
    naming the folder, the sites and the file to add."""
    files = sorted(files, key=lambda p: (p.name != SITES_FILE, p.name))
    sites = list(sites)
    if not files:
        raise DataError(f"{folder}: no site list; ONEFlux files carry no coordinates: {SITE_LIST_ADVICE}")
    parts = [read_site_table(p) if p.name == SITES_FILE else read_bif(p, sites) for p in files]
    table = pd.concat(parts, ignore_index=True).drop_duplicates("site_id").set_index("site_id")
    absent = [site for site in sites if site not in table.index]
    if absent:
        listed = ", ".join(p.name for p in files)
        raise DataError(
            f"{folder}: the site list ({listed}) has no row for site(s) {', '.join(absent)}; add them: "
            f"{SITE_LIST_ADVICE}"
        )
    return table.loc[sites].reset_index()
