"""CERRA regional reanalysis from the Climate Data Store: grid, variables, raw paths and the requests.

Facts from the CERRA full system documentation (Copernicus Climate Change Service, Copernicus Knowledge
Base on the ECMWF Confluence) and the dataset's page
(https://cds.climate.copernicus.eu/datasets/reanalysis-cerra-single-levels):

- GRIB2 on a Lambert conformal conic grid of 1069 x 1069 points, 5500 m apart, on a sphere of radius
  6371229 m (GRIB keys LaD = 50, LoV = 8, Latin1 = Latin2 = 50, Dx = Dy = 5500); first grid point 20.2923 N,
  17.4859 W, scanning +i +j; point (i, j) sits at x = (i - 534) * 5500 m, y = (j - 534) * 5500 m;
- requests name ``variable``, ``level_type``, ``data_type``, ``product_type`` (analysis or forecast; the
  forecast also ``leadtime_hour``), dates, 3-hourly ``time`` and ``data_format``; there is no ``area``:
  the whole grid always comes back;
- total precipitation exists only in the forecast product (accumulated over the lead time, kg m-2);
- the record starts on 1984-09-01 00 UTC (product user guide, "Temporal coverage"; :data:`FIRST_MONTH`) and
  the CDS extends it towards the present (dataset title "from 1984 to present").

Modules: :mod:`.read` (GRIB2 files read with eccodes), :mod:`.write` (GRIB2 files from arrays).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from terraflux.errors import ConfigError
from terraflux.sources import limits
from terraflux.sources.formats import cds

DATASET = "reanalysis-cerra-single-levels"

#: The Lambert conformal grid.
EARTH_RADIUS = 6371229.0
LAD = 50.0
LOV = 8.0
LATIN = 50.0
SIZE = 1069
CENTRE = 534
SPACING = 5500.0
#: Latitude and longitude of point (0, 0), degrees.
FIRST_POINT = (20.2923, -17.4859)
PROJ4 = (
    f"+proj=lcc +lat_0={LAD:g} +lon_0={LOV:g} +lat_1={LATIN:g} +lat_2={LATIN:g} +x_0=0 +y_0=0 "
    f"+R={EARTH_RADIUS:.0f} +units=m +no_defs"
)

#: First month of the record (year, month): September 1984.
FIRST_MONTH = (1984, 9)

PRODUCTS = ("analysis", "forecast")
#: Raw files (relative to the raw folder): one per product and month.
PATH = "cerra/cerra_{product}_{year}-{month}.grib"


@dataclass(frozen=True)
class Variable:
    """One CERRA single-level variable and its GRIB2 coding (eccodes paramId, level)."""

    request: str  # CDS long name (config sources.cerra.variables)
    short: str  # eccodes cfVarName, the name cfgrib gives it
    param_id: int
    type_of_level: str  # eccodes typeOfLevel
    level: int
    units: str  # eccodes units of the parameter


VARIABLES = [
    Variable("2m_temperature", "t2m", 167, "heightAboveGround", 2, "K"),
    Variable("2m_relative_humidity", "r2", 260242, "heightAboveGround", 2, "%"),
    Variable("surface_pressure", "sp", 134, "surface", 0, "Pa"),
    Variable("total_cloud_cover", "tcc", 228164, "entireAtmosphere", 0, "%"),
    Variable("albedo", "al", 260509, "surface", 0, "%"),
    Variable("volumetric_soil_moisture", "vsw", 260199, "surface", 0, "m**3 m**-3"),
    Variable("skin_temperature", "skt", 235, "surface", 0, "K"),
    Variable("10m_wind_speed", "si10", 207, "heightAboveGround", 10, "m s**-1"),
    Variable("total_precipitation", "tp", 228228, "surface", 0, "kg m**-2"),
]
BY_REQUEST = {v.request: v for v in VARIABLES}
#: Plausible range of every variable's values in its file units (tp: over the lead time, at most 6 h). The
#: bounds and their reasons: :mod:`terraflux.sources.limits`; checked when preparing
#: (:mod:`terraflux.prepare.plausibility`).
PLAUSIBLE = {
    **dict.fromkeys(("t2m", "skt"), limits.TEMPERATURE),
    "r2": limits.RELATIVE_HUMIDITY,
    "sp": limits.SURFACE_PRESSURE,
    **dict.fromkeys(("tcc", "al"), limits.PERCENT),
    "vsw": limits.VOLUME_FRACTION,
    "si10": limits.WIND_SPEED,
    "tp": limits.PRECIPITATION_DAY.scaled(1000.0, "kg m**-2"),
}


def variables(requests: list[str], key: str) -> list[Variable]:
    """The table rows of CDS names from config ``key``, in config order; unknown names are a ConfigError."""
    unknown = [r for r in requests if r not in BY_REQUEST]
    if unknown:
        raise ConfigError(
            f"'{key}' holds {unknown}, which are not CERRA variables known to terraflux. Known: {sorted(BY_REQUEST)}."
        )
    return [BY_REQUEST[r] for r in requests]


def raw_path(product: str, year: int, month: int) -> str:
    """The raw file of one month of the ``'analysis'`` or ``'forecast'`` product (relative to the raw folder)."""
    return PATH.format(product=product, year=f"{year:04d}", month=f"{month:02d}")


def request(cerra: Mapping[str, Any], product: str, year: int, month: int) -> dict:
    """One month of CERRA ``product`` fields, ``{dataset, request}``: the analysis variables, or the
    forecast-only ones (precipitation) at lead time ``leadtime_hour``; always the full grid."""
    names = {"analysis": cerra["variables"], "forecast": cerra["forecast_variables"]}[product]
    body = {
        "variable": list(names),
        "level_type": "surface_or_atmosphere",
        "data_type": ["reanalysis"],
        "product_type": product,
        "year": [f"{year:04d}"],
        "month": [f"{month:02d}"],
        "day": cds.days(year, month),
        "time": cds.times(cerra["hours"]),
        "data_format": "grib",
    }
    if product == "forecast":
        body["leadtime_hour"] = [str(cerra["leadtime_hour"])]
    return {"dataset": DATASET, "request": body}
