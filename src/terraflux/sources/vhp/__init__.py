"""NOAA STAR Vegetation Health Products (VHP): weekly files, satellites by year, grid, the download.

Facts from the NOAA STAR VHP site (https://www.star.nesdis.noaa.gov/smcd/emb/vci/VH/index.php):

- one NetCDF per week, ``VHP.G04.C07.{satellite}.P{YYYY}{WWW}.VH.nc``, weeks 001..052 of each year, with
  ``VCI``, ``TCI`` and ``VHI`` (dimensionless, 0..100; fill -999) on dims ``(HEIGHT, WIDTH)``;
- the blended 4 km product's global grid: 10000 x 3616 pixels of 0.036 degree from 180 W / 75.024 N (north
  row first), its edges in the global attributes ``START_LATITUDE_RANGE``, ``END_LATITUDE_RANGE``,
  ``START_LONGITUDE_RANGE``, ``END_LONGITUDE_RANGE`` (files of the newer version: ``geospatial_lat_max``,
  ``geospatial_lat_min``, ``geospatial_lon_min``, ``geospatial_lon_max``; VHP user guide v2.0, 2018,
  https://www.star.nesdis.noaa.gov/smcd/emb/vci/VH_doc/VHP_uguide_v2.0_2018_0727.pdf);
- pixels without a valid index hold the fill value: water, and land where no index was computed that week, so a
  week may have no valid pixel at all over a small northern or snow-covered region;
- the record starts in week 35 of 1981 (NOAA-7; the server's first file is ``VHP.G04.C07.NC.P1981035.VH.nc``;
  :data:`FIRST_WEEK`) and runs to the present;
- the satellite code changes with the satellite of each period (e.g. NOAA-19 ``NP``, then SNPP ``npp`` and
  NOAA-20 ``j01``); which code covers which years is config ``sources.vhp.satellites`` (:func:`satellite`).

Modules: :mod:`.read` (a weekly file on its latitude/longitude grid), :mod:`.write` (a weekly file from arrays).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from terraflux.errors import ConfigError
from terraflux.sources import limits

if TYPE_CHECKING:
    from terraflux.sources.download.settings import ClientSettings

VARIABLES = ("VCI", "TCI", "VHI")
FILL = -999.0
WEEKS = 52
#: First week of the record (year, week): week 35 of 1981.
FIRST_WEEK = (1981, 35)
#: Plausible range of the indices (negative values are the fill and count as missing); the reason:
#: :mod:`terraflux.sources.limits`; checked when preparing (:mod:`terraflux.prepare.plausibility`).
PLAUSIBLE = dict.fromkeys(VARIABLES, limits.VEGETATION_INDEX)

#: The global grid (pixel edges and counts).
STEP = 0.036
LAT_TOP = 75.024
LON_LEFT = -180.0
HEIGHT = 3616
WIDTH = 10000

FILE_NAME = "VHP.G04.C07.{satellite}.P{year}{week}.VH.nc"
NAME = re.compile(r"VHP\.G04\.C07\.(?P<satellite>[A-Za-z0-9]+)\.P(?P<year>\d{4})(?P<week>\d{3})\.VH\.nc")
#: Raw files (relative to the raw folder): one per satellite, year and week.
PATH = "vhp/" + FILE_NAME


def file_name(satellite: str, year: int, week: int) -> str:
    """The file of one week (``week`` 1..52)."""
    return FILE_NAME.format(satellite=satellite, year=f"{year:04d}", week=f"{week:03d}")


def raw_path(satellite: str, year: int, week: int) -> str:
    """The raw file of one week (relative to the raw folder)."""
    return PATH.format(satellite=satellite, year=f"{year:04d}", week=f"{week:03d}")


def satellite(year: int, satellites: Mapping[int | str, str]) -> str:
    """The satellite code in the file names of ``year``.

    ``satellites`` maps the first year of each satellite's period to its code (config
    ``sources.vhp.satellites``, e.g. ``{2013: "npp", 2019: "j01"}``); the latest period that starts at or
    before ``year`` wins.
    """
    starts = sorted((int(first), code) for first, code in satellites.items())
    chosen = [code for first, code in starts if first <= int(year)]
    if not chosen:
        first = starts[0][0] if starts else "no year"
        raise ConfigError(
            f"no NOAA VHP satellite covers {year}: config key 'sources.vhp.satellites' starts in {first}; "
            "add the satellite code of that period (see the file names on the VHP server)"
        )
    return chosen[-1]


def url(base_url: str, satellite_code: str, year: int, week: int) -> str:
    """One weekly file under ``base_url``."""
    return f"{base_url.rstrip('/')}/{file_name(satellite_code, year, week)}"


def download(
    base_url: str,
    satellite_code: str,
    year: int,
    week: int,
    target: str | Path,
    settings: ClientSettings,
    **kwargs: Any,
) -> dict[str, Any]:
    """Download one weekly file (:func:`terraflux.sources.download.https.download`, ``kwargs`` passed on);
    a missing file's error names the satellite(s) the server lists for that week."""
    from terraflux.sources.download import errors, https

    address = url(base_url, satellite_code, year, week)
    try:
        return https.download(address, target, settings, **kwargs)
    except errors.HttpError as error:
        if "404" not in str(error):
            raise
        listed = [m for m in NAME.finditer(https.listing(base_url, settings)) if m["year"] == f"{year:04d}"]
        found = sorted({m["satellite"] for m in listed if m["week"] == f"{week:03d}"})
        hint = (
            f"The server has this week from satellite(s) {', '.join(found)}: set config 'sources.vhp.satellites' so "
            f"that {year} maps to {found[-1]}."
            if found
            else f"The server lists no file for {year} week {week:03d}: check 'sources.vhp.base_url' and the years."
        )
        raise errors.HttpError(address, 404, "Not Found", hint) from error
