"""The prepare rules end to end on the synthetic world (a small config), as `snakemake` runs them.

CERRA is off here (reading 24 monthly GRIB files costs about half a minute on 2 shared cores); prepare_cerra
is tested on small GRIB2 files in test_prepare_cerra_vhp.py.
"""

import json

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
import xarray as xr

from conftest import snakemake

CONFIG = """
run: {name: small}
region: {north: 47.6, south: 47.0, west: 8.0, east: 8.8}
period: {start_year: 2016, end_year: 2017, train_years: [2016], val_years: [2017], test_years: []}
synthetic: {n_sites: 3}
sources: {cerra: {enabled: false}}
"""
TARGETS = [
    "era5_land_daily.zarr",
    "era5_land_weekly.zarr",
    "era5_land_monthly.zarr",
    "pft.zarr",
    "sites.parquet",
    "insitu_daily.parquet",
    "insitu_monthly.parquet",
    "vhp_era5_land.zarr",
]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("prepare-workflow")
    config = workdir / "small.yaml"
    config.write_text(CONFIG)
    paths = [f"resources/small/prepared/{name}" for name in TARGETS]
    snakemake("--cores", "2", *paths, "--configfile", str(config), workdir=workdir, timeout=900)
    return workdir / "resources" / "small" / "prepared"


def test_every_prepared_store_is_built_with_provenance(run):
    for name in TARGETS:
        path = run / name
        assert path.exists(), name
        if name.endswith(".zarr"):
            ds = xr.open_zarr(path)
            record = ds.attrs["provenance"]
            assert record["rule"].startswith("prepare_")
            assert all(len(h) == 64 for h in record["inputs"].values())
            assert any(k.startswith("resources/small/raw/") for k in record["inputs"])
        else:
            meta = json.loads(pq.read_schema(path).metadata[b"terraflux"])
            assert meta["provenance"]["rule"] == "prepare_insitu"
    assert not list(run.glob(".*tmp*"))  # no temporary leftovers


def test_stores_agree_with_each_other(run):
    daily = xr.open_zarr(run / "era5_land_daily.zarr")
    monthly = xr.open_zarr(run / "era5_land_monthly.zarr")
    weekly = xr.open_zarr(run / "era5_land_weekly.zarr")
    pft = xr.open_zarr(run / "pft.zarr")
    assert daily.sizes["time"] == 731 and weekly.sizes["time"] == 104 and monthly.sizes["time"] == 24
    assert set(daily.data_vars) >= {"t2m", "d2m", "tp", "vpd", "land_mask"}
    np.testing.assert_allclose(pft["latitude"].values, monthly["latitude"].values)
    land = pft["fraction"].sum("pft").values
    np.testing.assert_allclose(land[np.isfinite(land)], 1.0, rtol=1e-5)
    sites = pd.read_parquet(run / "sites.parquet")
    assert (sites["cell_iy"] < monthly.sizes["latitude"]).all() and (sites["cell_ix"] < monthly.sizes["longitude"]).all()
    fluxes = pd.read_parquet(run / "insitu_monthly.parquet")
    assert set(fluxes["site_id"]) <= set(sites["site_id"]) and len(fluxes)
    vhp = xr.open_zarr(run / "vhp_era5_land.zarr")
    assert vhp["VHI"].shape == weekly["t2m_mean"].shape
