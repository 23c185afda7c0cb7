"""HTTPS downloads (NOAA VHP, ESA CCI PFT, CarbonSense) against a local file server on 127.0.0.1:
Range resume, retries honouring Retry-After, size / checksum / format verification, archives, local dirs."""

import hashlib
import io
import json
import tarfile
import time
from datetime import date

import terraflux  # noqa: F401
from terraflux.errors import ConfigError, DataError
from terraflux.sources import insitu, vhp
from terraflux.sources.download import errors
from terraflux.sources.download.https import download, retry_after_seconds
from terraflux.sources.download.insitu import download_carbonsense, link_local
from terraflux.sources.download.settings import ClientSettings
from terraflux.sources.insitu import write as insitu_write

import numpy as np
import pandas as pd
import pytest

from support.fake_cds import FakeFiles, era5_land_netcdf

SETTINGS = ClientSettings(retry_max=3, sleep_max=0.05, timeout=10)
NETCDF = ("netcdf4", "netcdf3")
VHP = "/VH/" + vhp.file_name("npp", 2016, 1)


@pytest.fixture(scope="module")
def netcdf():
    """A real NetCDF4 file of about 400 kB (several 64 KiB reads)."""
    return era5_land_netcdf(["2m_temperature"], [48, 8, 46, 11], times=120)


def assert_nothing_left(folder):
    left = sorted(p.name for p in folder.iterdir()) if folder.exists() else []
    assert left == [], f"left behind: {left}"


def test_file_with_checksum_and_sidecars(tmp_path, netcdf):
    with FakeFiles({VHP: netcdf}) as server:
        target = tmp_path / "vhp" / vhp.file_name("npp", 2016, 1)
        described = download(
            server.url(VHP), target, SETTINGS, allowed=NETCDF, checksum="md5:" + hashlib.md5(netcdf).hexdigest()
        )
    assert target.read_bytes() == netcdf
    sidecar = json.loads((tmp_path / "vhp" / f"{target.name}.request.json").read_text())
    assert sidecar["url"] == server.url(VHP)
    assert sidecar["delivery"]["checksum_verified"].startswith("md5:")
    assert sidecar["sha256"] == hashlib.sha256(netcdf).hexdigest() == described["sha256"]


def test_broken_transfer_resumes_with_range(tmp_path, netcdf):
    with FakeFiles({VHP: netcdf}, cut_transfers=1) as server:
        target = tmp_path / "f.nc"
        described = download(
            server.url(VHP), target, SETTINGS, allowed=NETCDF, checksum=hashlib.sha256(netcdf).hexdigest()
        )
    gets = [c for c in server.calls if c["method"] == "GET"]
    assert len(gets) == 2
    assert "range" not in gets[0]["headers"]
    resumed_at = int(gets[1]["headers"]["range"].removeprefix("bytes=").rstrip("-"))
    assert 0 < resumed_at <= len(netcdf) // 2  # what arrived before the break was kept
    assert target.read_bytes() == netcdf
    assert described["delivery"]["resumed"] == 1


def test_server_without_ranges_is_read_again_from_the_start(tmp_path, netcdf):
    with FakeFiles({VHP: netcdf}, cut_transfers=1, ranges=False) as server:
        target = tmp_path / "f.nc"
        download(server.url(VHP), target, SETTINGS, allowed=NETCDF)
    assert target.read_bytes() == netcdf


def test_5xx_and_429_are_retried_honouring_retry_after(tmp_path, netcdf):
    with FakeFiles({VHP: netcdf}, statuses=(503, 429), retry_after="1") as server:
        start = time.monotonic()
        download(server.url(VHP), tmp_path / "f.nc", SETTINGS, allowed=NETCDF)
        elapsed = time.monotonic() - start
    assert 2.0 <= elapsed < 10  # two waits of Retry-After: 1 s (the backoff alone would be 0.05 s)
    assert (tmp_path / "f.nc").read_bytes() == netcdf


def test_retry_after_as_seconds_or_http_date():
    assert retry_after_seconds("7") == 7.0
    assert retry_after_seconds("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0  # in the past: no wait
    assert retry_after_seconds("soon") is None
    assert retry_after_seconds(None) is None


def test_checksum_mismatch_leaves_nothing(tmp_path, netcdf):
    with FakeFiles({VHP: netcdf}) as server:
        with pytest.raises(errors.ChecksumMismatch, match="sources.insitu.sha256"):
            download(
                server.url(VHP),
                tmp_path / "f.nc",
                SETTINGS,
                allowed=NETCDF,
                checksum="0" * 64,
                checksum_key="sources.insitu.sha256",
            )
    assert_nothing_left(tmp_path)


def test_always_truncated_transfer_ends_as_truncated_download(tmp_path, netcdf):
    with FakeFiles({VHP: netcdf}, cut_transfers=99, ranges=False) as server:
        with pytest.raises(errors.TruncatedDownload, match=f"of {len(netcdf)} bytes after 4 attempts"):
            download(server.url(VHP), tmp_path / "f.nc", SETTINGS, allowed=NETCDF)
    assert_nothing_left(tmp_path)


def test_missing_file_and_error_page_are_clear_errors(tmp_path):
    with FakeFiles({"/page.nc": b"<html>maintenance</html>"}) as server:
        with pytest.raises(errors.HttpError, match="404.*base URL"):
            download(server.url("/none.nc"), tmp_path / "a.nc", SETTINGS, allowed=NETCDF)
        with pytest.raises(errors.UnexpectedFormat, match="delivered as html.*web page"):
            download(server.url("/page.nc"), tmp_path / "b.nc", SETTINGS, allowed=NETCDF)
        # the format is checked before the checksum: the page is named as such, not as a corrupt file
        with pytest.raises(errors.UnexpectedFormat, match="delivered as html"):
            download(server.url("/page.nc"), tmp_path / "c.nc", SETTINGS, allowed=NETCDF, checksum="0" * 64)
    assert_nothing_left(tmp_path)


# --- CarbonSense archive and user-supplied site directories -----------------------------------------


PERIOD = insitu.period_folder(date(2010, 1, 1), date(2013, 12, 31))


def carbonsense_tar() -> bytes:
    """A CarbonSense-like tar: a top folder, two sites, each with one period and the four files."""
    buffer = io.BytesIO()
    meta, predictors, targets = insitu.CARBONSENSE_FILES
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for site in ("AU-ASM", "DE-Hai"):
            for name, content in {
                meta: json.dumps({"SITE_ID": site, "IGBP": "ENF"}).encode(),
                predictors: b"timestamp,TA_F\n2010-01-01 00:00:00,0.5\n",
                targets: b"timestamp,NEE_VUT_REF\n2010-01-01 00:00:00,1.2\n",
                "modis.pkl": b"\x80\x04not-to-be-unpickled.",
            }.items():
                info = tarfile.TarInfo(f"carbonsense/{site}/{PERIOD}/{name}")
                info.size = len(content)
                tar.addfile(info, io.BytesIO(content))
    return buffer.getvalue()


def test_carbonsense_archive_is_verified_unpacked_and_removed(tmp_path):
    archive = carbonsense_tar()
    with FakeFiles({"/records/11403428/files/carbonsense.tar": archive}, cut_transfers=1) as server:
        target = tmp_path / "insitu" / "carbonsense"
        target.parent.mkdir()
        (target.parent / ".carbonsense.archive.tmp-othernode-4242").write_bytes(b"partial archive of a killed job")
        described = download_carbonsense(
            server.url("/records/11403428/files/carbonsense.tar"),
            target,
            SETTINGS,
            checksum=hashlib.sha256(archive).hexdigest(),
        )
    period = target / "AU-ASM" / PERIOD
    assert sorted(p.name for p in period.iterdir()) == sorted(insitu.CARBONSENSE_FILES)  # no modis.pkl
    assert json.loads((period / insitu.CARBONSENSE_FILES[0]).read_text())["SITE_ID"] == "AU-ASM"
    assert described["delivery"]["sites"] == 2 and described["delivery"]["format"] == "tar"
    assert (tmp_path / "insitu" / "carbonsense.sha256").read_text().split()[0] == hashlib.sha256(archive).hexdigest()
    assert sorted(p.name for p in (tmp_path / "insitu").iterdir()) == [  # the killed job's archive is gone
        "carbonsense",
        "carbonsense.request.json",
        "carbonsense.sha256",
    ]


def test_carbonsense_archive_with_wrong_checksum_leaves_nothing(tmp_path):
    with FakeFiles({"/carbonsense.tar": carbonsense_tar()}) as server:
        with pytest.raises(errors.ChecksumMismatch):
            download_carbonsense(
                server.url("/carbonsense.tar"),
                tmp_path / "insitu" / "carbonsense",
                SETTINGS,
                checksum="md5:" + "0" * 32,
            )
    assert_nothing_left(tmp_path / "insitu")


def users_fluxnet_folder(tmp_path, samples, site_list=True):
    """A user's folder: the real FLUXNET2015 samples (links to them) and, with ``site_list``, a sites.csv."""
    local = tmp_path / "my-fluxnet"
    local.mkdir()
    for sample in (samples / "fluxnet2015").iterdir():
        (local / sample.name).symlink_to(sample)
    if site_list:
        (local / insitu.SITES_FILE).write_text(
            "SITE_ID,LOCATION_LAT,LOCATION_LONG,LOCATION_ELEV,IGBP\nFR-Pue,43.7413,3.5957,270,EBF\n"
        )
    return local


def test_local_fluxnet_directory_is_validated_and_linked(tmp_path, samples):
    local = users_fluxnet_folder(tmp_path, samples)
    (local / "notes.txt").write_text("not site data")
    target = tmp_path / "insitu" / "fluxnet2015"
    described = link_local(local, target, "fluxnet2015")
    names = sorted(p.name for p in target.iterdir())
    assert names == sorted([*(p.name for p in (samples / "fluxnet2015").iterdir()), insitu.SITES_FILE])
    assert all((target / name).is_symlink() for name in names)
    assert described["delivery"]["entries"] == len(names) == 3
    assert len((tmp_path / "insitu" / "fluxnet2015.sha256").read_text().split()[0]) == 64


def test_local_fluxnet_directory_without_site_list_says_which_file_to_add(tmp_path, samples):
    local = users_fluxnet_folder(tmp_path, samples, site_list=False)
    with pytest.raises(DataError, match=rf"{local}: no site list; ONEFlux files carry no coordinates: add sites\.csv "
                       r"there with the header SITE_ID,LOCATION_LAT,LOCATION_LONG,LOCATION_ELEV,IGBP"):  # fmt: skip
        link_local(local, tmp_path / "insitu" / "fluxnet2015", "fluxnet2015")
    assert_nothing_left(tmp_path / "insitu")


def test_unpacked_icos_archives_in_subfolders_are_linked_side_by_side(tmp_path):
    local = tmp_path / "icos"
    site = {"site_id": "BE-Bra", "latitude": 51.31, "longitude": 4.52, "elevation": 16.0, "igbp": "MF"}
    for name in ("BE-Bra", "DE-Hai"):
        folder = local / f"ICOSETC_{name}_ARCHIVE_L2"
        folder.mkdir(parents=True)
        days = date(2020, 1, 1), date(2020, 1, 2)
        columns = {"NEE_VUT_REF": 1.0, "GPP_NT_VUT_REF": 2.0, "RECO_NT_VUT_REF": 3.0}
        insitu_write.fluxnet_file(folder, dict(site, site_id=name), "DD", 2020, 2020, "", days, columns, "ICOS ETC L2")
        insitu_write.bif_file(folder / f"ICOSETC_{name}_SITEINFO_L2.csv", [dict(site, site_id=name)])
    target = tmp_path / "insitu" / "fluxnet2015"
    link_local(local, target, "fluxnet2015")
    assert sorted(p.name for p in target.iterdir()) == [
        "ICOSETC_BE-Bra_FLUXNET_DD_L2.csv",
        "ICOSETC_BE-Bra_SITEINFO_L2.csv",
        "ICOSETC_DE-Hai_FLUXNET_DD_L2.csv",
        "ICOSETC_DE-Hai_SITEINFO_L2.csv",
    ]


@pytest.mark.parametrize(
    ("files", "message"),
    [
        (["AMF_US-Ha1_BASE_HR_19-5.csv"], r"holds AmeriFlux BASE files \(AMF_US-Ha1_BASE_HR_19-5.csv\): AmeriFlux BASE "
         r"files hold the measured fluxes only, no partitioned GPP and RECO .* download the AmeriFlux FLUXNET product"),
        (["FLX_FR-Pue_FLUXNET2015_FULLSET_2007-2014_2-3.zip"], r"holds archives \(FLX_FR-Pue_.*\.zip\): unzip them"),
        (["FR-Pue_monthly.csv"], r"holds no ONEFlux site files \(FLX_\{SITE\}_FLUXNET2015_FULLSET_"),
    ],
)  # fmt: skip
def test_a_folder_without_oneflux_files_says_why_and_what_to_do(tmp_path, files, message):
    local = tmp_path / "mine"
    local.mkdir()
    for name in files:
        if "BASE" in name:
            times = pd.date_range("2016-01-01", periods=2, freq="h")
            insitu_write.ameriflux_base_file(local, "US-Ha1", "HR", "19-5", times, {"FC": np.array([1.0, 2.0])})
        else:
            (local / name).write_bytes(b"PK\x03\x04")
    with pytest.raises(ConfigError, match=rf"config 'sources.insitu.local_dir': {local} cannot be used: it {message}"):
        link_local(local, tmp_path / "insitu" / "fluxnet2015", "fluxnet2015")
    assert_nothing_left(tmp_path / "insitu")


def test_two_files_of_one_site_and_resolution_name_both(tmp_path, samples):
    local = users_fluxnet_folder(tmp_path, samples)
    mm = next(local.glob("FLX_*_MM_*"))
    months = pd.period_range("2015-01", "2015-12", freq="M")
    site = {"site_id": "FR-Pue"}
    insitu_write.fluxnet_file(local, site, "MM", 2015, 2020, "3-5", months, {"NEE_VUT_REF": 1.0}, "AmeriFlux FLUXNET")
    amf = "AMF_FR-Pue_FLUXNET_FULLSET_MM_2015-2020_3-5.csv"
    with pytest.raises(DataError, match=rf"site FR-Pue has two MM files, {amf} and {mm.name}; keep one of them"):
        link_local(local, tmp_path / "insitu" / "fluxnet2015", "fluxnet2015")
    assert_nothing_left(tmp_path / "insitu")


def test_local_directory_without_sites_names_the_key(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConfigError, match="sources.insitu.local_dir.*CarbonSense v1 site folders"):
        link_local(tmp_path / "empty", tmp_path / "insitu" / "carbonsense", "carbonsense")
    assert_nothing_left(tmp_path / "insitu")


def test_missing_vhp_week_names_the_satellite_the_server_has(tmp_path, netcdf):
    name = vhp.file_name("j01", 2016, 1)
    listing = f'<html><a href="{name}">{name}</a> <a href="{vhp.file_name("npp", 2016, 2)}">x</a></html>'.encode()
    files = {"/VH/": listing, f"/VH/{name}": netcdf}
    with FakeFiles(files) as server:
        with pytest.raises(errors.HttpError, match="satellite\\(s\\) j01.*sources.vhp.satellites.*2016 maps to j01"):
            vhp.download(server.url("/VH"), "npp", 2016, 1, tmp_path / "v.nc", SETTINGS, allowed=NETCDF)
        vhp.download(server.url("/VH"), "j01", 2016, 1, tmp_path / "v.nc", SETTINGS, allowed=NETCDF)
    assert (tmp_path / "v.nc").read_bytes() == netcdf
