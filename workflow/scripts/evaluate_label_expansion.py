"""Kriging pseudo-labels between sites as a baseline for the CSDI label expansion (DERE step 5).

Inputs:  csdi           results/{run}/dere/step5/holdout_samples.parquet: CSDI samples at hidden observed
                        points, long table site_id, time, variable, observation, sample, value (gC m-2 d-1)
         insitu, sites  resources/{run}/prepared/insitu_monthly.parquet, sites.parquet (cell_latitude/longitude)
         process_model  resources/{run}/process_model.zarr (the prior: fused cell fluxes at each site's cell)
         dataset        resources/{run}/dere/dataset.zarr (``site_split``: the label set uses training sites only)
         basis          results/{run}/basis/holdout_samples.parquet (when ``basis.enabled``): basis-function
                        label samples at the same hidden points, the step-5 layout plus ``label`` (label mean)
Outputs: table   results/{run}/evaluate/label_expansion.csv: per method (CSDI, kriging, basis functions) and
                 variable on the same hidden points, scored as step 5 scores CSDI
                 (terraflux.metrics.ensemble_metrics): n, MAE, RMSE, bias (gC m-2 d-1), R2, NSE (1) of the
                 point label (CSDI median, kriging mean, basis label mean),
                 crps (exact ensemble CRPS), crps_quantile (19 levels; gC m-2 d-1) and its normalised form (1)
         figure  results/{run}/evaluate/label_expansion.png
         labels  results/{run}/evaluate/kriging_labels.parquet: kriging label set in the layout of the
                 expanded labels (site_id, time, variable, value, std, imputed, reliable) for every gap month
                 of every training site, kriged from the training sites' observations only (no validation or
                 test observation reaches a label), observed months kept with std 0: an alternative label set
                 for step 6
"""

import terraflux  # noqa: F401
from terraflux.evaluate import figures
from terraflux.evaluate.inputs import FLUX_UNITS, FLUXES, process_cell_fluxes
from terraflux.evaluate.kriging import krige_labels, training_label_set
from terraflux.metrics import ensemble_metrics, point_estimate
from terraflux.outputs import write_parquet
from terraflux.train import derive_seed
from terraflux.workflow.atomic import atomic_output
from terraflux.workflow.provenance import from_snakemake
from terraflux.workflow.script import setup_logging

import pandas as pd
import xarray as xr

log = setup_logging(snakemake)
cfg = snakemake.params.evaluate["label_expansion"]
seed = derive_seed(snakemake.params.seed, "evaluate_label_expansion")
sites = pd.read_parquet(snakemake.input.sites)
obs = pd.read_parquet(snakemake.input.insitu).assign(time=lambda f: pd.to_datetime(f["time"]))
csdi = pd.read_parquet(snakemake.input.csdi).assign(time=lambda f: pd.to_datetime(f["time"]))
basis = pd.read_parquet(snakemake.input.basis) if "basis" in snakemake.input.keys() else None
pm = process_cell_fluxes(xr.open_zarr(snakemake.input.process_model))
at_sites = pm.sel(
    latitude=xr.DataArray(sites["cell_latitude"].values, dims="site"),
    longitude=xr.DataArray(sites["cell_longitude"].values, dims="site"),
    method="nearest",
)
coords = sites[["site_id", "latitude", "longitude"]]
split = xr.open_zarr(snakemake.input.dataset, consolidated=False)["site_split"].load()
train_sites = [str(s) for s, v in zip(split["site"].values, split.values, strict=True) if str(v) == "train"]

rows, label_sets = [], []
for var in [v for v in FLUXES if v in set(csdi["variable"])]:
    prior = (
        pd.DataFrame(at_sites[var].values.T, index=sites["site_id"], columns=pd.to_datetime(at_sites["time"].values))
        .stack()
        .rename("value")
        .reset_index()
    )
    prior.columns = ["site_id", "time", "value"]
    prior["time"] = prior["time"].dt.to_period("M").dt.to_timestamp()
    held = csdi[csdi["variable"] == var]
    samples_csdi = held.pivot_table(index=["site_id", "time"], columns="sample", values="value")
    truth = held.groupby(["site_id", "time"])["observation"].first().reindex(samples_csdi.index)
    targets = samples_csdi.index.to_frame(index=False)
    observed = obs[["site_id", "time", var]].rename(columns={var: "value"}).dropna()
    observed = observed.assign(time=observed["time"].dt.to_period("M").dt.to_timestamp())
    targets = targets.assign(time=targets["time"].dt.to_period("M").dt.to_timestamp())
    hidden_keys = set(map(tuple, targets[["site_id", "time"]].to_numpy()))
    conditioning = observed[[(s, t) not in hidden_keys for s, t in observed[["site_id", "time"]].to_numpy()]]
    result = krige_labels(
        coords,
        conditioning,
        prior,
        targets,
        method=cfg["method"],
        n_samples=cfg["n_samples"],
        seed=seed,
        n_bins=cfg["n_bins"],
        mode_no=cfg["mode_no"],
    )
    y = truth.to_numpy(dtype=float)
    csdi_samples = samples_csdi.to_numpy().T  # (sample, point)
    methods = [
        ("CSDI", csdi_samples, point_estimate(csdi_samples, "median")),
        (f"kriging ({cfg['method']})", result.samples, result.labels["mean"].to_numpy()),
    ]
    if basis is not None:
        at_points = basis[basis["variable"] == var].assign(time=lambda f: pd.to_datetime(f["time"]))
        samples_basis = at_points.pivot_table(index=["site_id", "time"], columns="sample", values="value")
        samples_basis = samples_basis.reindex(samples_csdi.index)
        if samples_basis.isna().any().any():
            raise ValueError(
                f"{snakemake.input.basis}: {var} lacks samples at hidden points of {snakemake.input.csdi}; "
                "rerun rule basis_labels on this step-5 output"
            )
        label = at_points.groupby(["site_id", "time"])["label"].first().reindex(samples_csdi.index)
        methods.append(("basis functions", samples_basis.to_numpy().T, label.to_numpy()))
    for method, ens, point in methods:
        rows.append({"method": method, "variable": var, **ensemble_metrics(ens, y, point)})
    # The kriging label set for step 6: from the training sites' observations only, at training sites only.
    train_labels = training_label_set(
        coords, observed, prior, train_sites, method=cfg["method"], seed=seed, n_bins=cfg["n_bins"]
    )
    label_sets.append(train_labels.assign(variable=var))
    log.info(
        "%s: %d hidden points scored, %d gap labels kriged (variogram range %.0f km)",
        var,
        len(targets),
        int(train_labels["imputed"].sum()),
        result.variogram["range_km"],
    )

table = pd.DataFrame(rows)
with atomic_output(snakemake.output.table) as tmp:
    table.to_csv(tmp, index=False, float_format="%.4g")
labels = pd.concat(label_sets, ignore_index=True)[
    ["site_id", "time", "variable", "value", "std", "imputed", "reliable"]
]
write_parquet(
    snakemake.output.labels,
    labels,
    from_snakemake(snakemake, params={"evaluate": snakemake.params.evaluate, "seed": snakemake.params.seed}),
)
fig = figures.grouped_bars(
    table,
    x="variable",
    hue="method",
    metrics=[
        ("mae", f"MAE ({FLUX_UNITS})"),
        ("crps", f"CRPS ({FLUX_UNITS})"),
        ("crps_quantile_normalised", "normalised CRPS (1)"),
    ],
    title="Label expansion on hidden observed site-months",
)
figures.save(fig, snakemake.output.figure)
