"""The download rules as a user runs them: `run.origin: download`, credentials in the environment,
snakemake fetching raw files from the fake CDS on 127.0.0.1 through download_* rules."""

import json
from pathlib import Path

import terraflux  # noqa: F401
from terraflux.sources import era5_land, insitu, land_cover
from terraflux.sources.download.delivery import request_sidecar, sha256_sidecar
from terraflux.workflow.paths import RunPaths
from terraflux.workflow.provenance import sha256_file

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from support.configs import configfile_args
from support.fake_cds import Faults
from support.workflow import snakemake

CONFIG = configfile_args("download")
RAW = RunPaths("dl").raw
ERA5 = RAW(era5_land.raw_path("hourly", 2016, 1))
LAND_COVER = RAW(land_cover.raw_path("lccs", 2016))
FLUXNET = RAW(insitu.raw_path("fluxnet2015"))


@pytest.mark.slow
def test_download_rules_build_an_era5_land_month_and_a_land_cover_year(cds, tmp_path):
    done = snakemake("--cores", "2", ERA5, LAND_COVER, *CONFIG, workdir=tmp_path)
    assert "download_era5_land_hourly" in done.stdout + done.stderr
    assert "localrule download_land_cover" in done.stdout + done.stderr  # compute.local_downloads: true

    with xr.open_dataset(tmp_path / ERA5) as ds:
        assert set(ds.data_vars) == {"t2m", "tp"}
    sidecar = json.loads((tmp_path / request_sidecar(ERA5)).read_text())
    assert sidecar["dataset"] == "reanalysis-era5-land"
    assert sidecar["request"]["area"] == [48.0, 8.0, 47.5, 8.5]
    assert sidecar["request"]["variable"] == ["2m_temperature", "total_precipitation"]
    assert sidecar["provenance"]["rule"] == "download_era5_land_hourly"
    assert (tmp_path / sha256_sidecar(ERA5)).read_text().split()[0] == sha256_file(tmp_path / ERA5)
    lccs = json.loads((tmp_path / request_sidecar(LAND_COVER)).read_text())
    assert lccs["request"]["version"] == ["v2_1_1"]
    assert (tmp_path / LAND_COVER).read_bytes()[:4] == b"PK\x03\x04"

    # the token is nowhere in what the run wrote
    for path in tmp_path.rglob("*"):
        if path.is_file() and path.stat().st_size < 5_000_000:
            assert cds.token.encode() not in path.read_bytes(), path


@pytest.mark.slow
def test_licence_not_accepted_fails_the_job_with_one_clear_line_and_nothing_left(cds, tmp_path):
    cds.faults = Faults(submit_error="licence")
    done = snakemake("--cores", "1", LAND_COVER, *CONFIG, workdir=tmp_path, check=False)
    assert done.returncode != 0
    assert "terraflux [download_land_cover]: the licence of the CDS dataset 'satellite-land-cover'" in done.stderr
    assert "datasets/satellite-land-cover?tab=download#manage-licences" in done.stderr
    folder = (tmp_path / LAND_COVER).parent
    assert not folder.exists() or list(folder.iterdir()) == []


@pytest.mark.slow
def test_a_rerun_cleans_up_after_the_failed_attempt_keeps_its_log_and_splits_the_request(cds, tmp_path):
    target = tmp_path / ERA5
    target.parent.mkdir(parents=True)
    left_by_killed_job = target.parent / f".{target.name}.tmp-othernode-4242"
    left_by_killed_job.write_bytes(b"partial")
    cds.faults = Faults(submit_error="licence")
    failed = snakemake("--cores", "1", ERA5, *CONFIG, workdir=tmp_path, check=False)
    assert failed.returncode != 0 and "licence" in failed.stderr
    assert not left_by_killed_job.exists()  # removed when the job started

    cds.faults = Faults()
    split = configfile_args("download", tmp_path, "sources: {cds: {max_fields: 744}}\n")
    snakemake("--cores", "1", ERA5, *split, workdir=tmp_path)
    log = (tmp_path / "logs/dl/download_era5_land_hourly/2016-01.log").read_text()
    assert "attempt 1:" in log and "LicenceNotAccepted" in log  # the failed attempt's traceback survived
    assert "attempt 2:" in log and "fetched in 2 parts" in log
    executions = [c["json"]["inputs"]["variable"] for c in cds.calls if c["path"].endswith("/execution")]
    assert executions[-2:] == [["2m_temperature"], ["total_precipitation"]]
    with xr.open_dataset(target) as ds:
        assert set(ds.data_vars) == {"t2m", "tp"} and ds.sizes["valid_time"] == 744
    assert len(json.loads((tmp_path / request_sidecar(ERA5)).read_text())["parts"]) == 2
    assert sorted(p.name for p in target.parent.iterdir()) == sorted(
        [target.name, request_sidecar(target).name, sha256_sidecar(target).name]
    )


def test_cds_rules_take_one_cds_request_each_under_the_profiles_cap(tmp_path, repo_root):
    done = snakemake("-n", "--nolock", ERA5, LAND_COVER, *CONFIG, workdir=tmp_path)
    assert done.stdout.count("cds_requests=1") == 2
    assert "cds_requests=4" in (repo_root / "profiles/default/profile.yaml").read_text()


def users_fluxnet_config(tmp_path, samples) -> list[str]:
    """A user's FLUXNET folder (links to the real samples and the sites.csv the user adds) and the config that
    points at it: the FR-Pue region, 2007-2009."""
    local = tmp_path / "my-fluxnet"
    local.mkdir()
    for sample in (samples / "fluxnet2015").iterdir():
        (local / sample.name).symlink_to(sample)
    (local / insitu.SITES_FILE).write_text(f"{','.join(insitu.SITE_LIST_COLUMNS)}\nFR-Pue,43.7413,3.5957,270,EBF\n")
    extra = f"""
region: {{name: puechabon, north: 44.0, west: 3.5, south: 43.5, east: 4.0}}
period: {{start_year: 2007, end_year: 2009, train_years: [2007], val_years: [2008], test_years: [2009]}}
sources: {{insitu: {{format: fluxnet2015, local_dir: '{local}'}}}}
"""
    return configfile_args("download", tmp_path, extra)


def model_grid(path: Path) -> None:
    """The monthly ERA5-Land store prepare_insitu reads its grid from (0.1 degree over the region)."""
    latitude, longitude = np.round(np.arange(44.0, 43.45, -0.1), 1), np.round(np.arange(3.5, 4.05, 0.1), 1)
    t2m = np.full((1, len(latitude), len(longitude)), 280.0, dtype="float32")
    time = pd.to_datetime(["2007-01-01"])
    coords = {"time": time, "latitude": latitude, "longitude": longitude}
    xr.Dataset({"t2m": (("time", "latitude", "longitude"), t2m)}, coords=coords).to_zarr(path)


@pytest.mark.slow
def test_the_users_fluxnet_folder_is_linked_and_prepared(tmp_path, samples):
    """download_insitu links the user's FLUXNET files and site list; prepare_insitu turns them into the tables."""
    config = users_fluxnet_config(tmp_path, samples)
    prepared = RunPaths("dl").resources("prepared")
    model_grid(tmp_path / prepared / "era5_land_monthly.zarr")
    rules = ["--allowed-rules", "download_insitu", "prepare_insitu"]
    snakemake("--cores", "1", *config, *rules, "--", f"{prepared}/insitu_monthly.parquet", workdir=tmp_path)

    linked = tmp_path / FLUXNET
    expected = {p.name for p in (samples / "fluxnet2015").iterdir()} | {insitu.SITES_FILE}
    assert {p.name for p in linked.iterdir() if not p.name.startswith(".")} == expected  # and .snakemake_timestamp
    sidecar = json.loads((tmp_path / request_sidecar(FLUXNET)).read_text())
    assert Path(sidecar["request"]["local_dir"]).resolve() == (tmp_path / "my-fluxnet").resolve()
    sites = pd.read_parquet(tmp_path / prepared / "sites.parquet")
    assert sites[["site_id", "network", "igbp", "cell_iy", "cell_ix"]].values.tolist() == [
        ["FR-Pue", "FLUXNET2015", "EBF", 3, 1]
    ]
    monthly = pd.read_parquet(tmp_path / prepared / "insitu_monthly.parquet")
    raw = pd.read_csv(samples / "fluxnet2015" / insitu.fluxnet_file_name("FR-Pue", "MM", 2007, 2014, "2-3"))
    raw = raw[raw["TIMESTAMP"] < 201000]
    assert len(monthly) == 36 and monthly["time"].dt.year.between(2007, 2009).all()
    np.testing.assert_allclose(monthly["GPP"], raw["GPP_NT_VUT_REF"].astype("float32"))


def test_local_dir_with_a_synthetic_run_names_both_keys(tmp_path):
    extra = f"sources: {{insitu: {{local_dir: '{tmp_path}'}}}}\n"
    done = snakemake("-n", *configfile_args("tiny", tmp_path, extra), workdir=tmp_path, check=False)
    assert done.returncode != 0
    assert (
        f"terraflux: config 'sources.insitu.local_dir' is set ({tmp_path}) but 'run.origin' is 'synthetic'"
        in done.stderr
    )
    assert "set 'run.origin: download' to use them, or remove 'sources.insitu.local_dir'" in done.stderr
