"""DERE maps: monthly GPP, RECO, NEE for every land cell from one trained model (``wildcards.model``: step4,
step6, baseline, kgml; step 4/6 use the network model ``params.dere.predict.network``, baseline and kgml the
comparison models on ``params.dere.backbone.name``).

Inputs: ``dataset``, ``model`` (the model's checkpoint), ``step2`` (pure branches of step 4/6). Outputs:
``predictions`` predictions.zarr with ``GPP, RECO, NEE(time, latitude, longitude)`` gC m-2 d-1 (NaN off land) and
``split(latitude, longitude)`` of each cell (train/val/test); ``metrics`` JSON (cell counts per split).
"""

import terraflux  # noqa: F401
from terraflux.dere.io import StageRun
from terraflux.dere.predict import predict_maps
from terraflux.workflow.script import setup_logging

import numpy as np
import xarray as xr

log = setup_logging(snakemake)
model = snakemake.wildcards.model
run = StageRun(snakemake, f"predict_{model}")
data, cfg = run.data, run.cfg
network = cfg["predict"]["network"]
step2 = run.load("step2")["mix"] if model in ("step4", "step6") else None
backbone = cfg["backbone"]["name"]
y = predict_maps(data, cfg, run.device.device, model, run.load("model"), step2, network, backbone)  # (C, L, K)
ds = data.ds
iy, ix = ds["cell_iy"].values, ds["cell_ix"].values
shape = (ds.sizes["time"], ds.sizes["latitude"], ds.sizes["longitude"])
out = xr.Dataset(
    coords={"time": ds["time"].values, "latitude": ds["latitude_grid"].values, "longitude": ds["longitude_grid"].values}
)
for k, flux in enumerate(data.fluxes):
    grid = np.full(shape, np.nan, np.float32)
    grid[:, iy, ix] = y[..., k].T
    out[flux] = (("time", "latitude", "longitude"), grid, {"units": "gC m-2 d-1", "long_name": f"DERE {model} {flux}"})
split = np.full(shape[1:], "", dtype="<U5")
split[iy, ix] = ds["cell_split"].values
out["split"] = (("latitude", "longitude"), split)
run.write_zarr(out, snakemake.output.predictions)
run.write_metrics(
    {
        "model": model,
        "network": network,
        "cells": {s: int((ds["cell_split"].values == s).sum()) for s in ("train", "val", "test")},
    }
)
