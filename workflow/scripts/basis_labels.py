"""Basis-function label expansion and upscaling of the in-situ fluxes (terraflux.spatial.basis_labels).

Inputs:  insitu, sites   resources/{run}/prepared/insitu_monthly.parquet, sites.parquet
         process_model   resources/{run}/process_model.zarr (the prior: fused cell fluxes)
         climate         resources/{run}/prepared/era5_land_monthly.zarr (covariates: climate means)
         dataset         resources/{run}/dere/dataset.zarr (site_split: only training sites are fitted)
         holdout         results/{run}/dere/step5/holdout_samples.parquet (the hidden site-months CSDI and
                         kriging are scored on)
         truth_fluxes    resources/{run}/truth/fluxes.zarr (synthetic world only)
Outputs: labels      results/{run}/evaluate/basis_labels.parquet: the label set in the layout of the kriging
                     labels (site_id, time, variable, value, std, imputed, reliable), training sites only
         holdout     results/{run}/basis/holdout_samples.parquet: Gaussian samples (label mean, label std) at
                     the hidden points, fitted without them, in the layout of the step-5 samples plus the label
                     mean (scored beside CSDI and kriging by rule evaluate_label_expansion), gC m-2 d-1
         maps        results/{run}/basis/maps.zarr: GPP, RECO, NEE (time, latitude, longitude) on the model grid
         map_scores  results/{run}/evaluate/basis_maps.csv: maps and the process model against the truth
                     (synthetic world; empty table on real data), all land cells, test years
"""

import terraflux  # noqa: F401
from terraflux import outputs
from terraflux.evaluate.inputs import FLUXES, block_mean_to, process_cell_fluxes
from terraflux.metrics import point_metrics
from terraflux.spatial import basis_labels as bl
from terraflux.train import derive_seed
from terraflux.workflow.atomic import atomic_output
from terraflux.workflow.provenance import from_snakemake
from terraflux.workflow.script import setup_logging

import numpy as np
import pandas as pd
import xarray as xr

log = setup_logging(snakemake)
cfg, period = snakemake.params.basis, snakemake.params.period
month = lambda s: pd.to_datetime(s).dt.to_period("M").dt.to_timestamp()  # noqa: E731
sites = pd.read_parquet(snakemake.input.sites).assign(site_id=lambda f: f["site_id"].astype(str))
obs = pd.read_parquet(snakemake.input.insitu).assign(time=lambda f: month(f["time"]))
holdout = pd.read_parquet(snakemake.input.holdout).assign(time=lambda f: month(f["time"]))
prior_grid = process_cell_fluxes(xr.open_zarr(snakemake.input.process_model, consolidated=False))
prior_grid = prior_grid.assign_coords(time=pd.DatetimeIndex(prior_grid["time"].values).to_period("M").to_timestamp())
climate = xr.open_zarr(snakemake.input.climate)
dataset = xr.open_zarr(snakemake.input.dataset, consolidated=False)
split = pd.Series([str(v) for v in dataset["site_split"].values], index=[str(v) for v in dataset["site"].values])
train_sites = [s for s in sites["site_id"] if split.get(s) == "train"]
fluxes = [f for f in FLUXES if f in obs]
covariates = bl.cell_covariates(prior_grid, climate, fluxes)
site_cov = pd.DataFrame(
    bl.at_cells(covariates, sites["cell_latitude"], sites["cell_longitude"]).values,
    index=sites["site_id"],
    columns=covariates["covariate"].values,
)
at_sites = bl.at_cells(prior_grid, sites["cell_latitude"], sites["cell_longitude"])
held_samples, label_sets, maps = [], [], {}
rng = np.random.default_rng(derive_seed(snakemake.params.seed, "basis_samples"))
for var in fluxes:
    prior = pd.DataFrame(at_sites[var].values, index=at_sites["time"].values, columns=sites["site_id"])
    prior = prior.stack().rename("value").reset_index()
    prior.columns = ["time", "site_id", "value"]
    observed = obs[["site_id", "time", var]].rename(columns={var: "value"}).dropna()
    observed = observed.assign(site_id=observed["site_id"].astype(str))
    seed = derive_seed(snakemake.params.seed, "basis", var)
    # scored on the hidden points: fitted without them
    hidden = holdout[holdout["variable"] == var].groupby(["site_id", "time"], as_index=False)["observation"].first()
    hidden_keys = set(zip(hidden["site_id"].astype(str), hidden["time"], strict=True))
    keep = [(s, t) not in hidden_keys for s, t in zip(observed["site_id"], observed["time"], strict=True)]
    fit = bl.fit_flux(observed[keep], prior, site_cov, train_sites, cfg, seed)
    held_samples.append(bl.holdout_samples(fit, hidden, prior, site_cov, var, int(cfg["n_samples"]), rng))
    # the label set and the maps: fitted on every observation of the training sites
    fit = bl.fit_flux(observed, prior, site_cov, train_sites, cfg, seed)
    label_sets.append(bl.site_labels(fit, prior, observed, var))
    maps[var] = bl.grid_maps(fit, prior_grid[var], covariates)
    log.info(
        "%s: %d EOFs over %d training sites, std own %.3f spatial %.3f",
        var,
        fit.basis.eofs.shape[1],
        len(fit.site_ids),
        fit.std_own,
        fit.std_spatial,
    )

provenance = from_snakemake(snakemake)
outputs.write_parquet(snakemake.output.holdout, pd.concat(held_samples, ignore_index=True), provenance)
outputs.write_parquet(snakemake.output.labels, pd.concat(label_sets, ignore_index=True), provenance)
ds = xr.Dataset({v: m.assign_attrs(units="gC m-2 d-1") for v, m in maps.items()})
outputs.write_zarr(snakemake.output.maps, ds, provenance)
map_rows = []
if "truth_fluxes" in snakemake.input.keys():
    truth = xr.open_zarr(snakemake.input.truth_fluxes)
    truth = truth.assign_coords(time=pd.DatetimeIndex(truth["time"].values).to_period("M").to_timestamp())
    test = ds["time"].dt.year.isin(period["test_years"])
    for var in maps:
        ref = block_mean_to(truth[var], ds["latitude"].values, ds["longitude"].values).sel(time=ds["time"][test])
        for name, field in (("basis", ds[var]), ("process model", prior_grid[var].sel(time=ds["time"]))):
            map_rows.append(
                {"model": name, "variable": var, **point_metrics(field.sel(time=ref["time"]).values, ref.values)}
            )
with atomic_output(snakemake.output.map_scores) as tmp:
    pd.DataFrame(map_rows, columns=["model", "variable", "n", "rmse", "mae", "r2", "nse", "bias"]).to_csv(
        tmp, index=False, float_format="%.4g"
    )
