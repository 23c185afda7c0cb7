"""Build the DERE dataset store (one zarr) from the prepared stores and the process model.

Inputs: ``drivers`` era5_land_monthly.zarr, ``pft`` pft.zarr, ``sites`` sites.parquet, ``insitu``
insitu_monthly.parquet, ``process`` process_model.zarr. Output: ``dataset`` dataset.zarr (variables, dims and units
in ``terraflux.dere.dataset``: x (cell, time, feature) normalised drivers; y (cell, age_class, time, variable)
process output; process_fraction, esa_fraction, age_weight, cell_type, seeded cell splits, site folds and per-fold
site splits, insitu (site, time, flux) gC m-2 d-1, statistics from training data only), ``metrics`` summary JSON
(counts per split, cell type, network).
"""

from functools import partial

import terraflux  # noqa: F401
from terraflux import outputs
from terraflux.dere import folds
from terraflux.dere.dataset import build_dataset
from terraflux.train import derive_seed
from terraflux.workflow.provenance import from_snakemake
from terraflux.workflow.script import setup_logging

import numpy as np
import pandas as pd
import xarray as xr

log = setup_logging(snakemake)
sm = snakemake
spec, split = sm.params.dere["dataset"], sm.params.dere["split"]
ds = build_dataset(
    xr.open_zarr(sm.input.drivers).load(),
    xr.open_zarr(sm.input.pft).load(),
    xr.open_zarr(sm.input.process, consolidated=False).load(),
    pd.read_parquet(sm.input.sites),
    pd.read_parquet(sm.input.insitu),
    pure_threshold=spec["pure_threshold"],
    cell_val=spec["cell_val_fraction"],
    cell_test=spec["cell_test_fraction"],
    n_folds=split["folds"],
    seed=derive_seed(sm.params.seed, "dere", "dataset"),
    spatial_split=(
        partial(
            folds.spatial_split,
            n_folds=split["folds"],
            buffer_km=split["buffer_km"],
            min_train_share=split["min_train_share"],
        )
        if split["method"] == "spatial"
        else None
    ),
)
provenance = from_snakemake(sm)
outputs.write_zarr(sm.output.dataset, ds, provenance)
count = lambda a: {str(k): int(v) for k, v in zip(*np.unique(a, return_counts=True), strict=True)}  # noqa: E731
summary = {
    "cells": count(ds.cell_split.values),
    "cell_types": count(ds.cell_type.values),
    "sites": count(ds.site_split.values),
    "fold_sites": {int(k): count(ds.fold_site_split.values[k]) for k in ds.fold.values},
    "split": {k: v for k, v in ds.attrs.items() if k in ("split_method", "n_folds", "buffer_km", "variogram_range_km")},
    "networks": count(ds.site_network.values),
    "observed_months": {f: int(np.isfinite(ds.insitu.sel(flux=f)).sum()) for f in ds.flux.values},
    "features": [str(f) for f in ds.feature.values],
    "months": int(ds.sizes["time"]),
    "age_classes": int(ds.sizes["age_class"]),
}
log.info("dataset: %s", summary)
outputs.write_json(sm.output.metrics, {"stage": "dere_dataset", **summary}, provenance)
