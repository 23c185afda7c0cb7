"""Requests above the field budget (`sources.cds.max_fields`): split by variable, then by days, fetched as
several CDS jobs from the fake CDS and merged into the raw file one request gives, read the same."""

import json

import terraflux  # noqa: F401
from terraflux.config import validate
from terraflux.errors import ConfigError
from terraflux.sources import cerra, era5_land
from terraflux.sources.cerra.read import open_cerra
from terraflux.sources.download.cds import retrieve
from terraflux.sources.download.delivery import request_sidecar, sniff_format
from terraflux.sources.download.parts import count_fields, merge_grib, split_request
from terraflux.sources.download.settings import ClientSettings
from terraflux.sources.era5_land.read import open_daily, open_hourly

import numpy as np
import pytest
import xarray as xr

from support.fake_cds import Faults, era5_land_hourly

SETTINGS = ClientSettings(retry_max=1, sleep_max=0.05, timeout=10)
REGION = {"north": 48.0, "west": 8.0, "south": 47.5, "east": 8.5}
ERA5 = {
    "variables": ["2m_temperature", "total_precipitation"],
    "hours": [0, 12],
    "data_format": "netcdf",
    "daily_statistic": "daily_mean",
    "daily_frequency": "1_hourly",
}
ALLOWED = ("netcdf4", "netcdf3", "zip", "grib")


def hourly(**settings):
    return era5_land.hourly_request(dict(ERA5, **settings), REGION, 2016, 1)


def fields_of(request):
    """(variable, day, time) triples a request asks for."""
    return {(v, d, t) for v in request["variable"] for d in request["day"] for t in request["time"]}


def test_fields_are_counted_as_the_cds_counts_them():
    assert count_fields(hourly()["request"]) == 2 * 31 * 2  # the area is not counted
    config = validate({})
    default = era5_land.hourly_request(config["sources"]["era5_land"], config["region"], 2016, 1)["request"]
    assert count_fields(default) == 10 * 31 * 24 > config["sources"]["cds"]["max_fields"]
    assert count_fields(era5_land.daily_request(ERA5, REGION, 2016, 2)["request"]) == 2 * 29


@pytest.mark.parametrize(
    ("max_fields", "parts"),
    [(None, 1), (124, 1), (123, 2), (62, 2), (61, 4), (40, 4), (2, 62)],
)
def test_split_by_variable_then_days_covers_exactly_the_request(max_fields, parts):
    request = hourly()["request"]
    split = split_request(request, max_fields, "reanalysis-era5-land")
    assert len(split) == parts
    assert all(count_fields(part) <= (max_fields or count_fields(request)) for part in split)
    union = [field for part in split for field in fields_of(part)]
    assert len(union) == len(set(union)) and set(union) == fields_of(request)
    for part in split:
        assert {k: v for k, v in part.items() if k not in ("variable", "day")} == {
            k: v for k, v in request.items() if k not in ("variable", "day")
        }
    if parts == 2:
        assert [part["variable"] for part in split] == [["2m_temperature"], ["total_precipitation"]]


def test_a_budget_below_one_variable_on_one_day_names_the_key():
    with pytest.raises(ConfigError, match=r"'sources.cds.max_fields' \(1\) is below the 2 fields.*fewer hours"):
        split_request(hourly()["request"], 1, "reanalysis-era5-land")


def fetch(spec, target, max_fields=None):
    settings = ClientSettings(**{**SETTINGS.__dict__, "max_fields": max_fields})
    return retrieve(spec["dataset"], spec["request"], target, settings, allowed=ALLOWED)


def jobs(cds):
    return [c["json"]["inputs"] for c in cds.calls if c["path"].endswith("/execution")]


def assert_read_the_same(split, whole, reader=open_hourly):
    """The reader gives the same dataset for both files (but the name of the file it read)."""
    with reader(split) as a, reader(whole) as b:
        for ds in (a, b):
            ds.attrs.pop("source_file", None)
        xr.testing.assert_identical(a.load(), b.load())
        assert a.sizes == b.sizes and len(a.data_vars) >= 1


@pytest.mark.parametrize(
    ("settings", "faults", "max_fields", "parts", "merged"),
    [
        ({}, {}, 62, 2, "netcdf4"),  # by variable
        ({}, {}, 40, 4, "netcdf4"),  # by variable, then days
        ({"data_format": "grib"}, {}, 40, 4, "grib"),
        ({}, {"zip_for_netcdf": True}, 40, 4, "zip"),  # the CDS's zip of one NetCDF per step type
    ],
)
def test_split_request_gives_several_jobs_and_the_raw_file_of_one_request(
    cds, tmp_path, settings, faults, max_fields, parts, merged
):
    cds.faults = Faults(**faults)
    spec = hourly(**settings)
    whole, split = tmp_path / "whole" / "month.nc", tmp_path / "split" / "month.nc"
    fetch(spec, whole)
    assert len(jobs(cds)) == 1
    fetch(spec, split, max_fields)

    requested = jobs(cds)[1:]
    assert len(requested) == parts
    assert all(count_fields(job) <= max_fields for job in requested)
    assert set().union(*map(fields_of, requested)) == fields_of(spec["request"])
    assert sniff_format(split) == sniff_format(whole) == merged
    assert_read_the_same(split, whole)

    sidecar = json.loads(request_sidecar(split).read_text())
    assert sidecar["request"] == spec["request"]
    assert sidecar["parts"] == requested
    assert len(sidecar["delivery"]["parts"]) == parts
    assert all(part["checksum_verified"].startswith("md5:") for part in sidecar["delivery"]["parts"])
    assert sidecar["delivery"]["format"] == merged == sidecar["delivery"]["merged_as"]
    assert sorted(p.name for p in split.parent.iterdir()) == sorted(
        [split.name, f"{split.name}.request.json", f"{split.name}.sha256"]
    )


def test_cerra_split_by_variable_concatenates_the_grib_parts(cds, tmp_path):
    settings = {
        "variables": ["2m_temperature", "surface_pressure", "albedo"],
        "forecast_variables": [],
        "hours": [0, 12],
    }
    spec = cerra.request(settings, "analysis", 2016, 2)
    whole, split = tmp_path / "whole.grib", tmp_path / "split.grib"
    fetch(spec, whole)
    fetch(spec, split, max_fields=2 * 29 * 2)
    assert [job["variable"] for job in jobs(cds)[1:]] == [["2m_temperature", "surface_pressure"], ["albedo"]]
    assert split.stat().st_size == whole.stat().st_size
    assert_read_the_same(split, whole, open_cerra)


def test_zero_padding_between_grib_parts_is_dropped_a_cut_message_kept(tmp_path):
    message = era5_land_hourly(["2m_temperature"], [48, 8, 47.5, 8.5], np.array([403224]), "grib")
    padded, cut = tmp_path / "padded.grib", tmp_path / "cut.grib"
    padded.write_bytes(message + b"\0" * 100)
    cut.write_bytes(message + message[:50])
    merge_grib([padded, cut, padded], tmp_path / "merged.grib")
    assert (tmp_path / "merged.grib").read_bytes() == message + message + message[:50] + message + b"\0" * 100


def test_daily_statistics_split_by_days_merge_into_one_zip_per_variable(cds, tmp_path):
    spec = era5_land.daily_request(ERA5, REGION, 2016, 2)
    whole, split = tmp_path / "whole.zip", tmp_path / "split.zip"
    fetch(spec, whole)
    fetch(spec, split, max_fields=20)  # one variable on 29 days is above 20: two groups of days each
    assert len(jobs(cds)) == 1 + 4
    assert sniff_format(split) == "zip"
    assert_read_the_same(split, whole, open_daily)


def test_a_failed_part_leaves_nothing(cds, tmp_path):
    cds.faults = Faults(final_status="failed")
    target = tmp_path / "raw" / "month.nc"
    with pytest.raises(Exception, match="ended as 'failed'") as raised:
        fetch(hourly(), target, max_fields=62)
    assert '"variable": ["2m_temperature"]' in str(raised.value)  # the request of the part that failed
    assert list(target.parent.iterdir()) == []
