"""Spatial and temporal structure of one DERE model's predicted maps against a reference.

Inputs:  predictions  results/{run}/dere/{model}/predictions.zarr: GPP, RECO, NEE (time, latitude, longitude)
         reference    resources/{run}/truth/fluxes.zarr (synthetic world: block means on the model grid) or
                      resources/{run}/process_model.zarr (real data: fused cell fluxes)
Outputs: json   results/{run}/evaluate/spatial/{model}.json: per variable the semivariograms (distance km,
                gamma (gC m-2 d-1)^2, pair counts) of prediction and reference under the SAME mask,
                the semivariogram distance D, fitted range (km) / sill / nugget and their ratios, ACF of
                the region-mean series, decorrelation lag (months), lag-k RMSE / R2 curves; provenance
         figure results/{run}/evaluate/spatial/{model}.png
Semivariograms pool all months of the test years (pairs within each month).
"""

import terraflux  # noqa: F401
from terraflux import outputs
from terraflux.evaluate import figures
from terraflux.evaluate.inputs import FLUX_UNITS, FLUXES, block_mean_to, process_cell_fluxes
from terraflux.evaluate.semivariogram import GridGeometry, compare_structure
from terraflux.evaluate.temporal import compare_temporal
from terraflux.workflow.provenance import from_snakemake
from terraflux.workflow.script import setup_logging

import numpy as np
import xarray as xr

LABELS = {"baseline": "Baseline", "kgml": "KGML", "step4": "step 4", "step6": "step 6"}


log = setup_logging(snakemake)
params = snakemake.params
cfg = params.evaluate["spatial"]
model = snakemake.wildcards.model
years = params.period["test_years"]
pred = xr.open_zarr(snakemake.input.predictions)
pred = pred.sel(time=pred["time"].dt.year.isin(years))
if "truth_fluxes" in snakemake.input.keys():
    ref_name, ref_ds = "truth", xr.open_zarr(snakemake.input.truth_fluxes)
else:
    ref_name, ref_ds = "process model", process_cell_fluxes(xr.open_zarr(snakemake.input.process_model))
grid = GridGeometry("latlon", pred["latitude"].values, pred["longitude"].values)
weights = np.cos(np.radians(pred["latitude"].values))[:, None] * np.ones(pred["longitude"].size)[None, :]
results = {}
for var in [v for v in FLUXES if v in pred]:
    p = pred[var].transpose("time", "latitude", "longitude")
    ref = ref_ds[var].sel(time=ref_ds["time"].dt.year.isin(years))
    ref = (
        block_mean_to(ref, p["latitude"].values, p["longitude"].values)
        if ref.sizes["latitude"] != p.sizes["latitude"] or ref.sizes["longitude"] != p.sizes["longitude"]
        else ref
    )
    ref = ref.transpose("time", "latitude", "longitude").values
    spatial = compare_structure(
        p.values,
        ref,
        grid,
        n_bins=cfg["n_bins"],
        max_distance_km=cfg["max_distance_km"] or None,
        model=cfg["model"],
        tolerance=cfg["tolerance"],
    )
    temporal = compare_temporal(p.values, ref, cfg["max_lag"], weights)
    results[var] = {**spatial, **temporal}
    log.info("%s %s: D = %.3f, range ratio %.2f", model, var, spatial["D"], spatial["ratios"]["range"])
period = f"{years[0]}-{years[-1]}" if len(years) > 1 else str(years[0])
fig = figures.structure_figure(
    results,
    units={v: FLUX_UNITS for v in results},
    title=f"{LABELS[model]} vs {ref_name}: spatial and temporal structure of monthly maps, {period}",
)
figures.save(fig, snakemake.output.figure)
provenance = from_snakemake(snakemake, params={"evaluate": params.evaluate, "period": params.period})
outputs.write_json(snakemake.output.json, {"model": model, "reference": ref_name, "variables": results}, provenance)
