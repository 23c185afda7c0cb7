"""CDS downloads: the real cdsapi client against the fake CDS on 127.0.0.1, with every fault it can meet."""

import hashlib
import json
import logging
import time
from dataclasses import replace

import terraflux  # noqa: F401
from terraflux.config import validate
from terraflux.sources import cerra, era5_land, land_cover
from terraflux.sources.download import cds as cds_module
from terraflux.sources.download import errors
from terraflux.sources.download.cds import retrieve
from terraflux.sources.download.delivery import request_sidecar, sha256_sidecar
from terraflux.sources.download.settings import ClientSettings
from terraflux.workflow.provenance import sha256_file

import numpy as np
import pytest
import xarray as xr

from support.fake_cds import FakeCDS, Faults, SilentServer, object_store_checksum, point_client_at

SETTINGS = ClientSettings(retry_max=3, sleep_max=0.05, timeout=10)
REGION = {"north": 48.0, "west": 8.0, "south": 47.5, "east": 8.5}
ERA5 = {"variables": ["2m_temperature", "total_precipitation"], "hours": [0, 12], "data_format": "netcdf"}
NETCDF_OR_ZIP = ("netcdf4", "netcdf3", "zip", "grib")


def era5_month(tmp_path):
    spec = era5_land.hourly_request(ERA5, REGION, 2016, 1)
    target = tmp_path / "raw" / era5_land.raw_path("hourly", 2016, 1)
    return spec, target


def fetch(spec, target, allowed=NETCDF_OR_ZIP):
    return retrieve(spec["dataset"], spec["request"], target, SETTINGS, allowed=allowed, provenance={"rule": "test"})


def assert_nothing_left(folder):
    left = sorted(p.name for p in folder.iterdir()) if folder.exists() else []
    assert left == [], f"left behind: {left}"


def failing_month(cds, tmp_path, error, **faults) -> str:
    """The message of ``error``, raised by the download of an ERA5-Land month under ``faults``, which must
    leave nothing behind."""
    cds.faults = Faults(**faults)
    spec, target = era5_month(tmp_path)
    with pytest.raises(error) as raised:
        fetch(spec, target)
    assert_nothing_left(target.parent)
    return str(raised.value)


def test_month_downloads_with_request_and_checksum_beside_it(cds, tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    spec, target = era5_month(tmp_path)
    described = fetch(spec, target)

    with xr.open_dataset(target) as ds:
        assert set(ds.data_vars) == {"t2m", "tp"}
        assert ds.sizes["latitude"] == 6 and ds.sizes["longitude"] == 6
    sidecar = json.loads(request_sidecar(target).read_text())
    assert sidecar["dataset"] == "reanalysis-era5-land"
    assert sidecar["request"] == spec["request"]
    assert sidecar["delivery"]["format"] == "netcdf4"
    assert sidecar["sha256"] == sha256_file(target) == described["sha256"]
    assert sha256_sidecar(target).read_text() == f"{sha256_file(target)}  {target.name}\n"

    # what the server saw: the request as built, the token on every API call, none on the file transfer
    submitted = [c for c in cds.calls if c["path"].endswith("/execution")]
    assert submitted[0]["json"] == {"inputs": spec["request"]}
    assert all(c["headers"].get("private-token") == cds.token for c in cds.api_calls())
    transfers = [c for c in cds.calls if c["path"].startswith("/download/")]
    assert {c["method"] for c in transfers} == {"GET"}
    assert all("private-token" not in c["headers"] for c in transfers)
    # the checksum the service announced was compared
    asset = next(iter(cds.jobs.values()))
    assert sidecar["delivery"]["checksum_verified"] == f"md5:{object_store_checksum(asset.content)}"
    # the secret is nowhere: not in the sidecars, not in the log
    for path in tmp_path.rglob("*.json"):
        assert cds.token not in path.read_text()
    assert cds.token not in caplog.text


def test_server_errors_are_retried_then_succeed(cds, tmp_path):
    cds.faults = Faults(server_errors=2)
    spec, target = era5_month(tmp_path)
    fetch(spec, target)
    assert cds.submissions == 3
    assert target.exists()


def test_persistent_server_errors_end_with_a_clear_error(cds, tmp_path):
    cds.faults = Faults(server_errors=100)
    spec, target = era5_month(tmp_path)
    with pytest.raises(errors.ServiceUnavailable, match="503") as raised:
        fetch(spec, target)
    assert cds.submissions == SETTINGS.retry_max + 1  # the first try and retry_max retries
    assert f"after {SETTINGS.retry_max + 1} attempts" in str(raised.value)
    assert_nothing_left(target.parent)


def test_without_retries_the_error_does_not_claim_retries(cds, tmp_path):
    cds.faults = Faults(server_errors=100)
    spec, target = era5_month(tmp_path)
    with pytest.raises(errors.ServiceUnavailable) as raised:
        retrieve(spec["dataset"], spec["request"], target, replace(SETTINGS, retry_max=0), allowed=NETCDF_OR_ZIP)
    assert cds.submissions == 1
    assert "unavailable (503: service unavailable - try again later) at the first attempt, with retry_max 0" in str(
        raised.value
    )


def test_rate_limit_waits_as_retry_after_says(cds, tmp_path):
    cds.faults = Faults(rate_limits=1, retry_after="1")
    spec, target = era5_month(tmp_path)
    start = time.monotonic()
    fetch(spec, target)
    assert time.monotonic() - start >= 1.0  # the client alone would have waited sleep_max = 0.05 s
    assert cds.submissions == 2


def test_job_accepted_then_running_is_polled_until_successful(cds, tmp_path, caplog):
    caplog.set_level(logging.INFO)
    cds.faults = Faults(polls_accepted=2, polls_running=2)
    spec, target = era5_month(tmp_path)
    fetch(spec, target)
    polls = [
        c for c in cds.calls if c["path"].startswith("/api/retrieve/v1/jobs/") and c["query"].get("log") == ["True"]
    ]
    assert len(polls) >= 4
    assert "status has been updated to running" in caplog.text
    assert "status has been updated to successful" in caplog.text


@pytest.mark.parametrize("status", ["failed", "rejected"])
def test_failed_or_rejected_job_ends_with_the_servers_reason(cds, tmp_path, status):
    cds.faults = Faults(final_status=status)
    spec, target = era5_month(tmp_path)
    with pytest.raises(errors.JobFailed) as raised:
        fetch(spec, target)
    message = str(raised.value)
    assert f"ended as '{status}'" in message
    assert "MultiAdaptorNoDataError" in message
    assert '"variable": ["2m_temperature", "total_precipitation"]' in message
    assert_nothing_left(target.parent)


def test_wrong_token_is_a_401_with_advice(cds, tmp_path, monkeypatch):
    monkeypatch.setenv("CDSAPI_KEY", "11111111-wrong-token")
    spec, target = era5_month(tmp_path)
    with pytest.raises(errors.AuthenticationFailed, match="401.*personal access token"):
        fetch(spec, target)
    assert_nothing_left(target.parent)


def test_licence_not_accepted_names_the_dataset_and_where_to_accept(cds, tmp_path):
    cds.faults = Faults(submit_error="licence")
    spec = land_cover.request(REGION, 2016)
    target = tmp_path / "raw" / land_cover.raw_path("lccs", 2016)
    with pytest.raises(errors.LicenceNotAccepted) as raised:
        fetch(spec, target, allowed=("zip",))
    message = str(raised.value)
    assert "'satellite-land-cover'" in message
    assert "https://cds.climate.copernicus.eu/datasets/satellite-land-cover?tab=download#manage-licences" in message
    assert_nothing_left(target.parent)


def test_cost_limit_advice_counts_fields_not_the_region(cds, tmp_path):
    message = failing_month(cds, tmp_path, errors.CostLimitExceeded, submit_error="cost")
    assert "too large" in message  # the server's words
    assert "this request: 124)" in message  # 2 variables x 2 hours x 31 days
    assert "lower 'sources.cds.max_fields'" in message and "fewer variables or hours" in message
    assert "smaller region" not in message and "not the size of the region" in message


@pytest.mark.parametrize("code", ["400", "422"])
def test_invalid_request_shows_the_request(cds, tmp_path, code):
    cds.faults = Faults(submit_error=code)
    spec, target = era5_month(tmp_path)
    with pytest.raises(errors.InvalidRequest) as raised:
        fetch(spec, target)
    message = str(raised.value)
    assert f"({code})" in message
    assert json.dumps(spec["request"], sort_keys=True) in message
    assert_nothing_left(target.parent)


def test_unknown_dataset_is_a_404(cds, tmp_path):
    target = tmp_path / "raw" / "x.nc"
    with pytest.raises(errors.DatasetNotFound, match="reanalysis-era6"):
        retrieve("reanalysis-era6", {"variable": ["x"]}, target, SETTINGS, allowed=NETCDF_OR_ZIP)
    assert_nothing_left(target.parent)


def test_asset_shorter_than_announced_is_an_incomplete_download_without_retries(cds, tmp_path):
    message = failing_month(cds, tmp_path, errors.SizeMismatch, size_mismatch=100)
    size = len(next(iter(cds.jobs.values())).content)
    assert f"incomplete: {size} of {size + 100} bytes" in message
    assert "announced another size" in message and "retries" not in message


def test_expired_results_link_says_so(cds, tmp_path):
    message = failing_month(cds, tmp_path, errors.ResultsExpired, asset_status=404)
    assert "404" in message and "/download/" in message and "run again" in message
    assert "broke off" not in message


def test_web_page_in_place_of_the_data_is_named_before_the_size_check(cds, tmp_path):
    message = failing_month(cds, tmp_path, errors.UnexpectedFormat, html_asset=True)
    assert "delivered as html" in message and "web page" in message
    assert "incomplete" not in message and "broke off" not in message


def test_checksum_announced_by_the_service_is_compared(cds, tmp_path):
    message = failing_month(cds, tmp_path, errors.ChecksumMismatch, bad_checksum=True)
    content = next(iter(cds.jobs.values())).content
    assert hashlib.md5(content).hexdigest() in message
    assert object_store_checksum(content + b"x") in message and "damaged" in message


def test_object_store_checksum_of_a_file_uploaded_in_parts(tmp_path, monkeypatch, caplog):
    monkeypatch.setattr(cds_module, "UPLOAD_PART", 2 << 20)
    data = np.random.default_rng(0).bytes((5 << 20) + 123)  # parts of 2, 2 and 1 MiB + 123 bytes
    path = tmp_path / "f.nc"
    path.write_bytes(data)
    whole = hashlib.md5(data).hexdigest()
    in_parts = hashlib.md5(
        b"".join(hashlib.md5(data[i : i + (2 << 20)]).digest() for i in range(0, len(data), 2 << 20))
    ).hexdigest()
    assert cds_module.object_store_checksums(path) == [whole, in_parts]

    def verify(checksum):
        asset = {"file:size": len(data), "file:checksum": f"{int(checksum, 16):x}"}
        return cds_module.verify_asset(path, asset, "f", ("netcdf4", "unknown"))["checksum_verified"]

    assert verify(whole) == f"md5:{int(whole, 16):x}" and verify(in_parts) == f"md5:{int(in_parts, 16):x}"
    assert verify("1" * 32) is None  # uploaded in parts of another size: cannot be told from damage
    assert "stored it in parts of another size" in caplog.text
    with pytest.raises(errors.ChecksumMismatch, match=hashlib.md5(data[:1000]).hexdigest()):
        path.write_bytes(data[:1000])  # one piece: the checksum is the md5, nothing else
        cds_module.verify_asset(path, {"file:size": 1000, "file:checksum": "1" * 32}, "f", ("unknown",))


def test_a_request_left_queued_stops_at_max_wait_with_progress_lines(cds, tmp_path, caplog):
    caplog.set_level(logging.INFO)
    cds.faults = Faults(polls_accepted=10**9)
    spec, target = era5_month(tmp_path)
    settings = replace(SETTINGS, sleep_max=0.1, max_wait=1.5, progress_every=0.5)
    start = time.monotonic()
    with pytest.raises(errors.QueueTimeout) as raised:
        retrieve(spec["dataset"], spec["request"], target, settings, allowed=NETCDF_OR_ZIP)
    assert time.monotonic() - start < 10
    job = next(iter(cds.jobs))
    message = str(raised.value)
    assert job in message and "still 'accepted'" in message and "'sources.cds.max_wait' (1.5 s)" in message
    progress = [r.getMessage() for r in caplog.records if "since submission" in r.getMessage()]
    assert len(progress) >= 2
    assert all(f"CDS request {job}" in line and ": accepted for " in line for line in progress)
    assert_nothing_left(target.parent)


def test_a_dead_server_fails_within_the_retry_settings(monkeypatch, tmp_path):
    with FakeCDS() as server:
        pass
    point_client_at(server.url, server.token, monkeypatch, tmp_path)  # nothing listens there: refused
    spec, target = era5_month(tmp_path)
    start = time.monotonic()
    with pytest.raises(errors.ServiceUnavailable, match="ConnectionError") as raised:
        retrieve(spec["dataset"], spec["request"], target, replace(SETTINGS, retry_max=2), allowed=NETCDF_OR_ZIP)
    assert time.monotonic() - start < 10
    assert "after 3 attempts" in str(raised.value)
    assert_nothing_left(target.parent)


def test_a_server_that_never_answers_fails_within_the_retry_settings(monkeypatch, tmp_path):
    with SilentServer() as server:
        point_client_at(server.url, "00000000-fake-cds-token", monkeypatch, tmp_path)
        spec, target = era5_month(tmp_path)
        settings = ClientSettings(retry_max=1, sleep_max=0.05, timeout=0.5)
        start = time.monotonic()
        with pytest.raises(errors.ServiceUnavailable, match="\\(no answer within 0.5 s\\) after 2 attempts"):
            retrieve(spec["dataset"], spec["request"], target, settings, allowed=NETCDF_OR_ZIP)
        elapsed = time.monotonic() - start
    # the client's message call and the request: 2 tries of 0.5 s each, one pause between them
    assert elapsed < 2 * (2 * 0.5 + 0.05) + 2
    assert_nothing_left(target.parent)


def test_the_default_settings_give_up_on_a_dead_server_within_minutes():
    defaults = ClientSettings.from_config(validate({})["sources"]["cds"])
    # two API calls before a job exists (service messages, the dataset), each tried `tries` times
    never_answers = 2 * (defaults.tries * defaults.timeout + defaults.retry_max * defaults.sleep_max)
    refuses = 2 * defaults.retry_max * defaults.sleep_max
    assert never_answers <= 15 * 60 and refuses <= 5 * 60
    assert 3600 <= defaults.max_wait <= 12 * 3600


def test_transfer_broken_off_is_resumed_with_range(cds, tmp_path):
    # the client writes in 1 MiB chunks: a file of several MiB, broken off half-way, resumes past 1 MiB
    cds.faults = Faults(cut_transfers=1, asset_times=600)
    spec = era5_land.hourly_request(ERA5, dict(REGION, south=45.0, east=11.0), 2016, 1)
    target = tmp_path / "raw" / era5_land.raw_path("hourly", 2016, 1)
    fetch(spec, target)
    gets = [c for c in cds.calls if c["path"].startswith("/download/") and c["method"] == "GET"]
    assert len(gets) == 2
    assert gets[1]["headers"]["range"].startswith("bytes=")
    job = next(iter(cds.jobs.values()))
    assert target.read_bytes() == job.content


def test_zip_delivered_for_a_netcdf_request_is_kept_as_delivered(cds, tmp_path, caplog):
    cds.faults = Faults(zip_for_netcdf=True)
    spec, target = era5_month(tmp_path)
    described = fetch(spec, target)
    assert target.read_bytes()[:4] == b"PK\x03\x04"
    assert described["delivery"]["format"] == "zip"
    assert described["delivery"]["type"] == "application/zip"
    assert "delivered a zip" in caplog.text


def test_unexpected_format_is_refused(cds, tmp_path):
    spec, target = era5_month(tmp_path)
    with pytest.raises(errors.UnexpectedFormat, match="netcdf4"):
        fetch(spec, target, allowed=("grib",))
    assert_nothing_left(target.parent)


def test_daily_statistics_cerra_and_land_cover_requests_are_served(cds, tmp_path):
    daily = era5_land.daily_request(
        dict(ERA5, daily_statistic="daily_mean", daily_frequency="1_hourly"), REGION, 2016, 2
    )
    fetch(daily, tmp_path / "daily.zip", allowed=("zip",))
    settings = {
        "variables": ["2m_temperature"],
        "forecast_variables": ["total_precipitation"],
        "hours": [0, 3],
        "leadtime_hour": 3,
    }
    fetch(cerra.request(settings, "forecast", 2016, 1), tmp_path / "forecast.grib", allowed=("grib",))
    fetch(land_cover.request(REGION, 2015), tmp_path / "lc.zip", allowed=("zip",))
    inputs = [c["json"]["inputs"] for c in cds.calls if c["path"].endswith("/execution")]
    assert inputs[0]["day"][-1] == "29"  # 2016 is a leap year
    assert inputs[1]["product_type"] == "forecast" and inputs[1]["leadtime_hour"] == ["3"] and "area" not in inputs[1]
    assert inputs[2]["version"] == ["v2_0_7cds"]
    assert (tmp_path / "forecast.grib").read_bytes()[:4] == b"GRIB"


def test_missing_credentials_say_how_to_create_cdsapirc(monkeypatch, tmp_path):
    monkeypatch.delenv("CDSAPI_URL", raising=False)
    monkeypatch.delenv("CDSAPI_KEY", raising=False)
    monkeypatch.setenv("CDSAPI_RC", str(tmp_path / "missing-rc"))
    spec, target = era5_month(tmp_path)
    with pytest.raises(errors.MissingCredentials) as raised:
        fetch(spec, target)
    message = str(raised.value)
    assert "missing-rc" in message and "url: https://cds.climate.copernicus.eu/api" in message and "key:" in message
    assert_nothing_left(target.parent)


def test_credentials_from_the_rc_file(monkeypatch, tmp_path):
    with FakeCDS() as server:
        rc = tmp_path / "cdsapirc"
        rc.write_text(f"url: {server.url}\nkey: {server.token}\n")
        monkeypatch.delenv("CDSAPI_URL", raising=False)
        monkeypatch.delenv("CDSAPI_KEY", raising=False)
        monkeypatch.setenv("CDSAPI_RC", str(rc))
        spec, target = era5_month(tmp_path)
        fetch(spec, target)
    assert target.exists()
    assert server.token not in request_sidecar(target).read_text()


def test_old_style_key_is_refused_with_advice(cds, monkeypatch, tmp_path):
    monkeypatch.setenv("CDSAPI_KEY", "12345:abcdef")
    spec, target = era5_month(tmp_path)
    with pytest.raises(errors.OldStyleKey, match="personal access token"):
        fetch(spec, target)
