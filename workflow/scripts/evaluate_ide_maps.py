"""Maps of one IDE model at the test week with the most extreme pixels (or params.week, evaluate.ide_map_week).

Inputs:  predictions  results/{run}/ide/{model}/predictions.zarr: extreme_probability(target_time, y, x) (1),
                      driver(variable, time, y, x) bool (majority vote), covered(time, y, x) bool
         dataset      resources/{run}/ide/{dataset}/dataset.zarr: extreme(time, y, x) target, valid(time, y, x)
         truth        (where known) resources/{run}/ide/benchmark.zarr or, in the synthetic world,
                      resources/{run}/truth/extremes.zarr / extremes_cerra.zarr: extreme, driver(variable, time, ...)
Output:  figure results/{run}/evaluate/ide_maps/{model}.png: P(extreme) (probability, 1) and the true extremes
         (0/1), then per variable the predicted and true driver masks (0/1); invalid pixels grey.
"""

import warnings

import terraflux  # noqa: F401
from terraflux.evaluate import figures, ide_maps
from terraflux.workflow.script import setup_logging

import xarray as xr

log = setup_logging(snakemake)
warnings.filterwarnings("ignore", message="Object at .snakemake_timestamp")  # left in directory outputs
model = snakemake.wildcards.model
pred = xr.open_zarr(snakemake.input.predictions, consolidated=False)
dataset = xr.open_zarr(snakemake.input.dataset, consolidated=False)
truth = xr.open_zarr(snakemake.input.truth, consolidated=False) if "truth" in snakemake.input.keys() else None
dataset_name, backbone = model.rsplit("_", 1)
asked = ide_maps.parse_week(snakemake.params.week, pred)
fig, week = ide_maps.figure(
    pred, dataset, truth, title=f"IDE {backbone} on {dataset_name}: extremes and drivers", week=asked
)
figures.save(fig, snakemake.output.figure)
log.info("IDE maps of %s at %s written to %s", model, ide_maps.week_label(dataset, week), snakemake.output.figure)
