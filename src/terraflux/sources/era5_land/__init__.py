"""ERA5-Land from the Climate Data Store: variables, accumulation, raw paths and the requests.

Facts from the ERA5-Land documentation (ECMWF Confluence,
https://confluence.ecmwf.int/display/CKB/ERA5-Land%3A+data+documentation) and the ECMWF parameter
database (https://codes.ecmwf.int/grib/param-db/):

- datasets ``reanalysis-era5-land`` (hourly) and ``derived-era5-land-daily-statistics`` (daily mean,
  minimum or maximum of the hourly values; one NetCDF per variable, delivered as a zip);
- regular 0.1 degree grid, latitude descending from 90 to -90; sea points have no data;
- accumulated fields (``step_type`` 'accum': tp, ssrd, e, ...) accumulate from 00 UTC: the value at hour h
  is the amount since 00 UTC of that day, the 00 UTC value holds the whole previous day;
- ``expver`` '0001' marks final data, '0005' the preliminary ERA5T data of the latest months (replaced
  by final data later);
- the record starts in January 1950 and runs to about five days before the present (ERA5-Land data
  documentation, "Temporal frequency and coverage"; :data:`FIRST_YEAR`).

Modules: :mod:`.read` (the files in every layout the CDS delivers), :mod:`.write` (those layouts from
arrays).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from terraflux.errors import ConfigError
from terraflux.sources import limits
from terraflux.sources.formats import cds

HOURLY_DATASET = "reanalysis-era5-land"
DAILY_DATASET = "derived-era5-land-daily-statistics"

#: Grid spacing, degrees.
STEP = 0.1

#: First year of the record (January 1950).
FIRST_YEAR = 1950

FINAL = "0001"
PRELIMINARY = "0005"

#: Raw files (relative to the raw folder) of the two products: one per month.
PATHS = {
    "hourly": "era5_land/hourly/era5-land_{year}-{month}.nc",
    "daily": "era5_land/daily/era5-land-daily_{year}-{month}.zip",
}
#: Members of the zip the CDS sends for an hourly request that mixes instantaneous and accumulated fields.
STEP_TYPE_MEMBER = "data_stream-oper_stepType-{step_type}.nc"
#: Members of a daily-statistics zip: one file per variable.
DAILY_MEMBER = "{request}_{statistic}.nc"


@dataclass(frozen=True)
class Variable:
    """One ERA5-Land variable as the new CDS NetCDF carries it."""

    request: str  # CDS long name (config sources.era5_land.variables)
    short: str  # NetCDF variable name
    param_id: int  # GRIB_paramId
    grib_short: str  # GRIB_shortName
    name: str  # long_name / GRIB_name
    units: str  # units / GRIB_units
    step_type: str  # 'instant' or 'accum' (accumulated from 00 UTC)
    other_units: tuple[str, ...] = ()  # other spellings of the units found in CDS files


_WATER = "m of water equivalent"
_FRACTION = ("1", "", "dimensionless", "~")

# fmt: off
VARIABLES = [
    Variable("2m_temperature", "t2m", 167, "2t", "2 metre temperature", "K", "instant"),
    Variable("2m_dewpoint_temperature", "d2m", 168, "2d", "2 metre dewpoint temperature", "K", "instant"),
    Variable("skin_temperature", "skt", 235, "skt", "Skin temperature", "K", "instant"),
    Variable("surface_pressure", "sp", 134, "sp", "Surface pressure", "Pa", "instant"),
    Variable("10m_u_component_of_wind", "u10", 165, "10u", "10 metre U wind component", "m s**-1", "instant"),
    Variable("10m_v_component_of_wind", "v10", 166, "10v", "10 metre V wind component", "m s**-1", "instant"),
    Variable("total_precipitation", "tp", 228, "tp", "Total precipitation", "m", "accum"),
    Variable("surface_solar_radiation_downwards", "ssrd", 169, "ssrd",
             "Surface short-wave (solar) radiation downwards", "J m**-2", "accum"),
    Variable("surface_thermal_radiation_downwards", "strd", 175, "strd",
             "Surface long-wave (thermal) radiation downwards", "J m**-2", "accum"),
    Variable("surface_net_solar_radiation", "ssr", 176, "ssr",
             "Surface net short-wave (solar) radiation", "J m**-2", "accum"),
    Variable("surface_net_thermal_radiation", "str", 177, "str",
             "Surface net long-wave (thermal) radiation", "J m**-2", "accum"),
    Variable("surface_latent_heat_flux", "slhf", 147, "slhf",
             "Time-integrated surface latent heat net flux", "J m**-2", "accum"),
    Variable("surface_sensible_heat_flux", "sshf", 146, "sshf",
             "Time-integrated surface sensible heat net flux", "J m**-2", "accum"),
    Variable("total_evaporation", "e", 182, "e", "Total evaporation", _WATER, "accum", ("m",)),
    Variable("potential_evaporation", "pev", 228251, "pev", "Potential evaporation", "m", "accum", (_WATER,)),
    Variable("runoff", "ro", 205, "ro", "Runoff", "m", "accum", (_WATER,)),
    *(Variable(f"volumetric_soil_water_layer_{i}", f"swvl{i}", param, f"swvl{i}", f"Volumetric soil water layer {i}",
               "m**3 m**-3", "instant") for i, param in zip(range(1, 5), (39, 40, 41, 42), strict=True)),
    *(Variable(f"soil_temperature_level_{i}", f"stl{i}", param, f"stl{i}", f"Soil temperature level {i}", "K",
               "instant") for i, param in zip(range(1, 5), (139, 170, 183, 236), strict=True)),
    Variable("leaf_area_index_high_vegetation", "lai_hv", 66, "lai_hv",
             "Leaf area index, high vegetation", "m**2 m**-2", "instant"),
    Variable("leaf_area_index_low_vegetation", "lai_lv", 67, "lai_lv",
             "Leaf area index, low vegetation", "m**2 m**-2", "instant"),
    Variable("snow_depth_water_equivalent", "sd", 141, "sd", "Snow depth", _WATER, "instant", ("m",)),
    Variable("forecast_albedo", "fal", 243, "fal", "Forecast albedo", "(0 - 1)", "instant", _FRACTION),
]
# fmt: on
BY_REQUEST = {v.request: v for v in VARIABLES}
BY_SHORT = {v.short: v for v in VARIABLES}
#: CDS request names -> short names in the files.
SHORT_NAMES = {v.request: v.short for v in VARIABLES}
#: Fields accumulated from 00 UTC (the 00 UTC value holds the whole previous day).
ACCUMULATED = frozenset(v.short for v in VARIABLES if v.step_type == "accum")
#: Plausible range of every variable's values in its file units (accumulations: since 00 UTC, at most a day;
#: the daily product's statistic of hourly amounts stays inside the same range). The bounds and their reasons:
#: :mod:`terraflux.sources.limits`; checked when preparing (:mod:`terraflux.prepare.plausibility`).
PLAUSIBLE = {
    **dict.fromkeys(("t2m", "d2m", "skt", "stl1", "stl2", "stl3", "stl4"), limits.TEMPERATURE),
    "sp": limits.SURFACE_PRESSURE,
    **dict.fromkeys(("u10", "v10"), limits.WIND_COMPONENT),
    "tp": limits.PRECIPITATION_DAY,
    "ro": limits.RUNOFF_DAY,
    "e": limits.EVAPORATION_DAY,
    "pev": limits.POTENTIAL_EVAPORATION_DAY,
    **dict.fromkeys(("ssrd", "ssr"), limits.SOLAR_DAY),
    "strd": limits.THERMAL_DOWN_DAY,
    "str": limits.THERMAL_NET_DAY,
    **dict.fromkeys(("slhf", "sshf"), limits.TURBULENT_FLUX_DAY),
    **dict.fromkeys(("swvl1", "swvl2", "swvl3", "swvl4"), limits.VOLUME_FRACTION),
    **dict.fromkeys(("lai_hv", "lai_lv"), limits.LEAF_AREA_INDEX),
    "sd": limits.SNOW_WATER_EQUIVALENT,
    "fal": limits.FRACTION,
}


def short_name(name: str) -> str:
    """Short name of a CDS request variable name (short names pass through)."""
    return SHORT_NAMES.get(name, name)


def variables(requests: list[str]) -> list[Variable]:
    """The table rows of the configured CDS names, in config order; unknown names are a ConfigError."""
    unknown = [r for r in requests if r not in BY_REQUEST]
    if unknown:
        raise ConfigError(
            f"'sources.era5_land.variables' holds {unknown}, which are not ERA5-Land variables known to terraflux. "
            f"Known: {sorted(BY_REQUEST)}."
        )
    return [BY_REQUEST[r] for r in requests]


def canonical_units(units: str) -> str:
    """Units string without spaces, ``*`` and case: ``'m**3 m**-3'`` -> ``'m3m-3'``."""
    return re.sub(r"[\s*]", "", str(units)).lower()


def accepted_units(short: str) -> set[str] | None:
    """The canonical units a file may give variable ``short`` (None: not in the table, not checked)."""
    var = BY_SHORT.get(short)
    return None if var is None else {canonical_units(u) for u in (var.units, *var.other_units)}


def raw_path(product: str, year: int, month: int) -> str:
    """The raw file of one month of the ``'hourly'`` or ``'daily'`` product (relative to the raw folder)."""
    return PATHS[product].format(year=f"{year:04d}", month=f"{month:02d}")


def hourly_request(era5_land: Mapping[str, Any], region: Mapping[str, Any], year: int, month: int) -> dict:
    """One month of hourly ERA5-Land, all configured variables, over the region: ``{dataset, request}``."""
    return {
        "dataset": HOURLY_DATASET,
        "request": {
            "variable": list(era5_land["variables"]),
            "year": f"{year:04d}",
            "month": f"{month:02d}",
            "day": cds.days(year, month),
            "time": cds.times(era5_land["hours"]),
            "data_format": era5_land["data_format"],
            "download_format": "unarchived",
            "area": cds.area(region),
        },
    }


def daily_request(era5_land: Mapping[str, Any], region: Mapping[str, Any], year: int, month: int) -> dict:
    """One month of the daily-statistics product (delivered as a zip of one NetCDF per variable)."""
    return {
        "dataset": DAILY_DATASET,
        "request": {
            "variable": list(era5_land["variables"]),
            "year": f"{year:04d}",
            "month": [f"{month:02d}"],
            "day": cds.days(year, month),
            "daily_statistic": era5_land["daily_statistic"],
            "time_zone": "utc+00:00",
            "frequency": era5_land["daily_frequency"],
            "area": cds.area(region),
        },
    }
