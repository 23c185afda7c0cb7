"""Maps of one DERE model's predicted monthly fluxes and their differences to the process model / truth.

Inputs:  predictions    results/{run}/dere/{model}/predictions.zarr: GPP, RECO, NEE (time, latitude, longitude)
         process_model  resources/{run}/process_model.zarr (fused to cell fluxes with PFT fractions, age weights)
         land           resources/{run}/prepared/era5_land_monthly.zarr (land_mask on the model grid)
         truth_fluxes   resources/{run}/truth/fluxes.zarr (synthetic world only; block means on the model grid)
Output:  figure results/{run}/evaluate/maps/{model}.png: per variable (rows) the test-period mean, the
         chosen month, mean minus process model and mean minus truth (gC m-2 d-1; differences diverging).
"""

import terraflux  # noqa: F401
from terraflux.evaluate import figures
from terraflux.evaluate.inputs import FLUX_UNITS, FLUXES, block_mean_to, process_cell_fluxes
from terraflux.workflow.script import setup_logging

import pandas as pd
import xarray as xr

LABELS = {"baseline": "Baseline", "kgml": "KGML", "step4": "step 4", "step6": "step 6"}

log = setup_logging(snakemake)
params = snakemake.params
model = snakemake.wildcards.model
pred = xr.open_zarr(snakemake.input.predictions)
years = params.period["test_years"]
pred = pred.sel(time=pred["time"].dt.year.isin(years))
land = (
    xr.open_zarr(snakemake.input.land)["land_mask"]
    .astype(bool)
    .sel(latitude=pred["latitude"], longitude=pred["longitude"], method="nearest")
    .values
)
month = params.evaluate["map_month"] or f"{years[0]}-07"
pm = process_cell_fluxes(xr.open_zarr(snakemake.input.process_model)).sel(time=pred["time"], method="nearest")
truth = xr.open_zarr(snakemake.input.truth_fluxes) if "truth_fluxes" in snakemake.input.keys() else None
period = f"{years[0]}-{years[-1]}" if len(years) > 1 else str(years[0])
panels = []
for var in [v for v in FLUXES if v in pred]:
    mean = pred[var].mean("time").values
    chosen = pred[var].sel(time=pd.Timestamp(month + "-01"), method="nearest")
    when = pd.Timestamp(chosen["time"].values).strftime("%Y-%m")
    panels += [
        {"values": mean, "title": f"{LABELS[model]} {var}, mean {period}", "units": FLUX_UNITS, "group": var},
        {"values": chosen.values, "title": f"{LABELS[model]} {var}, {when}", "units": FLUX_UNITS, "group": var},
        {
            "values": mean - pm[var].mean("time").values,
            "title": f"{var}: {LABELS[model]} minus process model, mean {period}",
            "units": FLUX_UNITS,
            "diverging": True,
            "group": f"d{var}",
        },
    ]
    if truth is not None:
        true = block_mean_to(
            truth[var].sel(time=truth["time"].dt.year.isin(years)), pred["latitude"].values, pred["longitude"].values
        )
        panels.append(
            {
                "values": mean - true.mean("time").values,
                "title": f"{var}: {LABELS[model]} minus truth, mean {period}",
                "units": FLUX_UNITS,
                "diverging": True,
                "group": f"d{var}",
            }
        )
ncols = 4 if truth is not None else 3
fig = figures.map_grid(
    panels,
    pred["latitude"].values,
    pred["longitude"].values,
    land=land,
    ncols=ncols,
    suptitle=f"{LABELS[model]}: predicted monthly carbon fluxes, test period {period} (grey: sea)",
)
figures.save(fig, snakemake.output.figure)
log.info("maps of %s written to %s", model, snakemake.output.figure)
