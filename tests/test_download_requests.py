"""Requests: what each download asks the services for, built by the source modules."""

import terraflux  # noqa: F401
from terraflux.config import validate
from terraflux.errors import ConfigError
from terraflux.sources import cerra, era5_land, land_cover, vhp

import pytest

CONFIG = validate({})
SOURCES, REGION = CONFIG["sources"], CONFIG["region"]


def test_era5_land_hourly_month_from_the_config():
    spec = era5_land.hourly_request(SOURCES["era5_land"], REGION, 2019, 2)
    request = spec["request"]
    assert spec["dataset"] == "reanalysis-era5-land"
    assert request["area"] == [48.0, 8.0, 46.0, 11.0]  # N, W, S, E
    assert request["day"] == [f"{d:02d}" for d in range(1, 29)]  # 2019 is not a leap year
    assert request["time"][0] == "00:00" and len(request["time"]) == 24
    assert request["variable"] == SOURCES["era5_land"]["variables"]
    assert request["data_format"] == "netcdf" and request["download_format"] == "unarchived"


def test_era5_land_daily_has_one_statistic_time_zone_and_frequency():
    spec = era5_land.daily_request(SOURCES["era5_land"], REGION, 2016, 2)
    request = spec["request"]
    assert spec["dataset"] == "derived-era5-land-daily-statistics"
    assert request["daily_statistic"] == "daily_mean"
    assert request["time_zone"] == "utc+00:00"
    assert request["frequency"] == "1_hourly"
    assert len(request["day"]) == 29


def test_cerra_requests_for_analysis_and_forecast_only_precipitation():
    analysis = cerra.request(SOURCES["cerra"], "analysis", 2017, 6)
    forecast = cerra.request(SOURCES["cerra"], "forecast", 2017, 6)["request"]
    assert analysis["dataset"] == "reanalysis-cerra-single-levels"
    analysis = analysis["request"]
    assert analysis["product_type"] == "analysis" and "leadtime_hour" not in analysis
    assert "total_precipitation" not in analysis["variable"]
    assert forecast["product_type"] == "forecast" and forecast["variable"] == ["total_precipitation"]
    assert forecast["leadtime_hour"] == ["3"]
    assert analysis["time"] == ["00:00", "03:00", "06:00", "09:00", "12:00", "15:00", "18:00", "21:00"]
    assert "area" not in analysis and analysis["data_format"] == "grib"


@pytest.mark.parametrize(
    ("year", "version"), [(1992, "v2_0_7cds"), (2015, "v2_0_7cds"), (2016, "v2_1_1"), (2022, "v2_1_1")]
)
def test_land_cover_version_by_year(year, version):
    spec = land_cover.request(REGION, year)
    request = spec["request"]
    assert spec["dataset"] == "satellite-land-cover"
    assert request["version"] == [version] and request["year"] == [str(year)] and request["variable"] == "all"


def test_land_cover_before_1992_is_refused():
    with pytest.raises(ConfigError, match="1992.*period.start_year"):
        land_cover.version(1991)


def test_https_urls_name_the_products_files():
    url = land_cover.pft_url("https://x/pft/v2.0.8/", 2018)
    assert url.startswith("https://x/pft/v2.0.8/") and url.endswith(land_cover.raw_path("pft", 2018).split("/")[-1])
    assert "-2018-v2.0.8.nc" in url
    assert vhp.url("https://x/VH", "npp", 2016, 7) == "https://x/VH/" + vhp.file_name("npp", 2016, 7)
    assert vhp.file_name("npp", 2016, 7).endswith(".npp.P2016007.VH.nc")


def test_vhp_satellite_by_year():
    satellites = SOURCES["vhp"]["satellites"]
    assert vhp.satellite(2012, satellites) == "NP"
    assert vhp.satellite(2016, satellites) == "npp"
    assert vhp.satellite(2020, satellites) == "j01"
    with pytest.raises(ConfigError, match="sources.vhp.satellites"):
        vhp.satellite(1980, satellites)


def test_land_cover_map_year_uses_the_nearest_map_outside_the_product_range():
    assert [land_cover.map_year(y, "lccs") for y in (1981, 1992, 2016, 2024)] == [1992, 1992, 2016, 2022]
    assert land_cover.map_year(2023, "pft") == 2020


def test_raw_paths_fill_the_wildcards_of_the_patterns():
    assert era5_land.raw_path("hourly", 2016, 3) == era5_land.PATHS["hourly"].format(year="2016", month="03")
    assert cerra.raw_path("forecast", 2016, 3) == cerra.PATH.format(product="forecast", year="2016", month="03")
    assert land_cover.raw_path("lccs", 2016) == land_cover.PATHS["lccs"].format(year="2016")
    assert vhp.raw_path("npp", 2016, 7) == vhp.PATH.format(satellite="npp", year="2016", week="007")
