"""The prepare rules end to end on the synthetic world (tests/configs/prepare_small.yaml: CERRA off), as
`snakemake` runs them."""

from terraflux.outputs import provenance_of

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from support.configs import configfile_args
from support.workflow import snakemake

pytestmark = pytest.mark.slow
CONFIG = configfile_args("prepare_small")
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
    paths = [f"resources/small/prepared/{name}" for name in TARGETS]
    snakemake("--cores", "2", *paths, *CONFIG, workdir=workdir, timeout=900)
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
            assert provenance_of(path)["rule"] == "prepare_insitu"
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
    assert (sites["cell_iy"] < monthly.sizes["latitude"]).all() and (
        sites["cell_ix"] < monthly.sizes["longitude"]
    ).all()
    fluxes = pd.read_parquet(run / "insitu_monthly.parquet")
    assert set(fluxes["site_id"]) <= set(sites["site_id"]) and len(fluxes)
    vhp = xr.open_zarr(run / "vhp_era5_land.zarr")
    assert vhp["VHI"].shape == weekly["t2m_mean"].shape
