"""The synthetic raw layer built by Snakemake in a temporary working directory (reduced config)."""

from terraflux.outputs import provenance_of
from terraflux.sources import cerra, era5_land, insitu, land_cover, vhp
from terraflux.workflow.paths import RunPaths

import netCDF4
import numpy as np
import pandas as pd
import pytest
import xarray as xr

from support.configs import configfile_args
from support.workflow import snakemake

CONFIG = configfile_args("synthetic_small")


@pytest.mark.slow
def test_synthesize_all_builds_every_raw_file_and_the_truth(tmp_path):
    snakemake(*CONFIG, "--cores", "2", "synthesize_all", workdir=tmp_path, timeout=400)
    root = tmp_path / RunPaths("syn").resources()
    raw = tmp_path / RunPaths("syn").raw()
    months = range(1, 13)
    expected = [raw / era5_land.raw_path("hourly", 2016, m) for m in months]
    expected += [raw / cerra.raw_path(p, 2016, m) for p in cerra.PRODUCTS for m in months]
    expected += [raw / land_cover.raw_path("lccs", 2016)]
    expected += [raw / vhp.raw_path("npp", 2016, w) for w in range(1, vhp.WEEKS + 1)]
    missing = [str(p) for p in expected if not p.is_file() or p.stat().st_size == 0]
    assert not missing
    assert len(list((raw / insitu.raw_path("carbonsense")).glob("*/*/targets.csv"))) == 2
    for name in ("land.zarr", "fluxes.zarr", "extremes.zarr", "extremes_cerra.zarr", "sites.parquet"):
        assert (root / "truth" / name).exists(), name
    # nothing half-written is left beside the outputs
    assert not list(root.rglob(".*.tmp-*"))
    # the configured hours, all months' files in sequence
    ds = netCDF4.Dataset(raw / era5_land.raw_path("hourly", 2016, 2))
    hours = (ds["valid_time"][:] // 3600) % 24
    assert ds.dimensions["valid_time"].size == 29 * 4 and set(hours) == {0, 6, 12, 18}
    # provenance in the truth stores, and the truth matches the config
    fluxes = xr.open_zarr(root / "truth" / "fluxes.zarr", consolidated=False)
    provenance = provenance_of(root / "truth" / "fluxes.zarr")
    assert provenance["rule"] == "synthesize_truth" and provenance["inputs"]
    assert fluxes.sizes == {"time": 12, "latitude": 6, "longitude": 6}
    assert np.isfinite(fluxes["GPP"].values).any()
    assert len(pd.read_parquet(root / "truth" / "sites.parquet")) == 2
    # a second run has nothing to do
    done = snakemake(*CONFIG, "--cores", "1", "-n", "synthesize_all", workdir=tmp_path)
    assert "Nothing to be done" in done.stdout + done.stderr


@pytest.mark.parametrize(
    "text, message",
    [
        ("sources:\n  land_cover: {product: pft}\n", "'sources.land_cover.product: pft' is download only"),
        ("synthetic:\n  coupled_variables: [t2m, u10]\n", "'synthetic.coupled_variables' names ['u10']"),
        (
            "sources:\n  cerra: {variables: [2m_temperature, snow_fall]}\n",
            "'sources.cerra.variables' holds ['snow_fall']",
        ),
    ],
)
def test_settings_the_synthetic_world_cannot_honour_fail_before_any_job(tmp_path, text, message):
    config = tmp_path / "bad.yaml"
    config.write_text(text)
    done = snakemake("--configfile", str(config), "-n", "--nolock", workdir=tmp_path, check=False)
    assert done.returncode != 0
    assert message in done.stderr
    assert "Traceback" not in done.stderr
