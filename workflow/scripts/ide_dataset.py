"""Normalised IDE dataset from the benchmark or a prepared weekly store with its VHP targets.

Inputs: benchmark: resources/{run}/ide/benchmark.zarr; era5_land / cerra: resources/{run}/prepared/
        {dataset}_weekly.zarr and vhp_{dataset}.zarr (docs/data-layout.md).
Params: dataset, clip, variables (real data; empty = all), period (train/val/test years).
Output: resources/{run}/ide/{dataset}/dataset.zarr

| variable | dims | units | meaning |
|---|---|---|---|
| inputs | variable, channel, time, y, x | 1 | (x - weekly clim. mean) / weekly clim. std (training weeks), clipped |
| extreme | time, y, x | bool | target: benchmark extremes or VHI < 26 |
| extreme_loose | time, y, x | bool | VHI < 35 (benchmark: extremes); limits the driver loss |
| valid | time, y, x | bool | land and target present |
| clim_mean, clim_std | variable, channel, week, y, x | input units | the climatology used |

Channels: value (benchmark) or mean, std (weekly statistics); coordinate split(time) 0/1/2.
"""

import json

import terraflux  # noqa: F401  (first: native libraries in a safe order)
from terraflux.ide.dataset import benchmark_source, weekly_source, write_dataset
from terraflux.workflow.atomic import atomic_output
from terraflux.workflow.provenance import from_snakemake
from terraflux.workflow.script import setup_logging

log = setup_logging(snakemake)
params = dict(snakemake.params.items())
if params["dataset"] == "benchmark":
    source = benchmark_source(snakemake.input.benchmark)
else:
    period = params["period"]
    source = weekly_source(
        snakemake.input.weekly,
        snakemake.input.vhp,
        variables=params["variables"],
        train_years=period["train_years"],
        val_years=period["val_years"],
        test_years=period["test_years"],
    )
attrs = {"dataset": params["dataset"], "provenance": from_snakemake(snakemake, params=params)}
with atomic_output(snakemake.output.store) as tmp:
    summary = write_dataset(source, tmp, params["clip"], attrs, params["climatology_weeks"])
log.info("wrote %s: %s", snakemake.output.store, json.dumps(summary))
