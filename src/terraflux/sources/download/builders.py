"""Request builders: what to ask each service for one raw file (facts in SOURCES.md).

CDS builders return ``{"dataset": <CDS dataset id>, "request": <request dict>}``, built only from config
subtrees (never credentials), so a rule passes it as ``params`` and reruns exactly when the request
changes. HTTPS builders return the URL of one file.
"""

from __future__ import annotations

import calendar
from typing import Any, Mapping

from terraflux.errors import ConfigError

ERA5_LAND_HOURLY = "reanalysis-era5-land"
ERA5_LAND_DAILY = "derived-era5-land-daily-statistics"
CERRA = "reanalysis-cerra-single-levels"
LAND_COVER = "satellite-land-cover"

# satellite-land-cover: CDR v2.0.7cds covers 1992-2015, ICDR v2.1.1 covers 2016 onwards.
LAND_COVER_FIRST_YEAR = 1992
LAND_COVER_ICDR_FROM = 2016
PFT_VERSION = "v2.0.8"


def area(region: Mapping[str, Any]) -> list[float]:
    """The CDS ``area`` [N, W, S, E] of config ``region`` (degrees)."""
    return [float(region["north"]), float(region["west"]), float(region["south"]), float(region["east"])]


def days(year: int, month: int) -> list[str]:
    """The valid days of a month as the CDS writes them ('01'..'31')."""
    return [f"{day:02d}" for day in range(1, calendar.monthrange(year, month)[1] + 1)]


def hours(values: list[int]) -> list[str]:
    return [f"{hour:02d}:00" for hour in values]


def era5_land_hourly(era5_land: Mapping[str, Any], region: Mapping[str, Any], year: int, month: int) -> dict:
    """One month of hourly ERA5-Land, all configured variables, over the region."""
    return {
        "dataset": ERA5_LAND_HOURLY,
        "request": {
            "variable": list(era5_land["variables"]),
            "year": f"{year:04d}",
            "month": f"{month:02d}",
            "day": days(year, month),
            "time": hours(era5_land["hours"]),
            "data_format": era5_land["data_format"],
            "download_format": "unarchived",
            "area": area(region),
        },
    }


def era5_land_daily(era5_land: Mapping[str, Any], region: Mapping[str, Any], year: int, month: int) -> dict:
    """One month of the daily-statistics product (delivered as a zip of one NetCDF per variable)."""
    return {
        "dataset": ERA5_LAND_DAILY,
        "request": {
            "variable": list(era5_land["variables"]),
            "year": f"{year:04d}",
            "month": [f"{month:02d}"],
            "day": days(year, month),
            "daily_statistic": era5_land["daily_statistic"],
            "time_zone": "utc+00:00",
            "frequency": era5_land["daily_frequency"],
            "area": area(region),
        },
    }


def _cerra(cerra: Mapping[str, Any], year: int, month: int, product_type: str, variables: list[str]) -> dict:
    request = {
        "variable": list(variables),
        "level_type": "surface_or_atmosphere",
        "data_type": ["reanalysis"],
        "product_type": product_type,
        "year": [f"{year:04d}"],
        "month": [f"{month:02d}"],
        "day": days(year, month),
        "time": hours(cerra["hours"]),
        "data_format": "grib",
    }
    if product_type == "forecast":
        request["leadtime_hour"] = [str(cerra["leadtime_hour"])]
    return {"dataset": CERRA, "request": request}


def cerra_analysis(cerra: Mapping[str, Any], year: int, month: int) -> dict:
    """CERRA analysis fields for one month (always the full Lambert conformal grid: no ``area`` key)."""
    return _cerra(cerra, year, month, "analysis", cerra["variables"])


def cerra_forecast(cerra: Mapping[str, Any], year: int, month: int) -> dict:
    """CERRA forecast-only fields (precipitation) for one month, at lead time ``leadtime_hour``."""
    return _cerra(cerra, year, month, "forecast", cerra["forecast_variables"])


def land_cover_version(year: int) -> str:
    """The ``satellite-land-cover`` version that holds ``year``."""
    if year < LAND_COVER_FIRST_YEAR:
        raise ConfigError(
            f"ESA CCI / C3S land cover starts in {LAND_COVER_FIRST_YEAR}, not {year}: raise config 'period.start_year'"
        )
    return "v2_0_7cds" if year < LAND_COVER_ICDR_FROM else "v2_1_1"


def land_cover(region: Mapping[str, Any], year: int) -> dict:
    """The yearly LCCS map over the region (delivered as a zip holding one NetCDF)."""
    return {
        "dataset": LAND_COVER,
        "request": {"variable": "all", "year": [f"{year:04d}"], "version": [land_cover_version(year)], "area": area(region)},
    }


def pft_file(year: int) -> str:
    return f"ESACCI-LC-L4-PFT-Map-300m-P1Y-{year:04d}-{PFT_VERSION}.nc"


def pft_url(base_url: str, year: int) -> str:
    """The ESA CCI PFT product file of a year (global, NetCDF)."""
    return f"{base_url.rstrip('/')}/{pft_file(year)}"


def vhp_file(satellite: str, year: int, week: int) -> str:
    return f"VHP.G04.C07.{satellite}.P{year:04d}{week:03d}.VH.nc"


def vhp_url(base_url: str, satellite: str, year: int, week: int) -> str:
    """One weekly NOAA VHP file."""
    return f"{base_url.rstrip('/')}/{vhp_file(satellite, year, week)}"
