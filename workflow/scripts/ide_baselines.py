"""Baselines on the IDE benchmark and one table with the trained models (same data, same metrics).

Inputs: resources/{run}/ide/benchmark/dataset.zarr, resources/{run}/ide/benchmark.zarr (true drivers),
        results/{run}/ide/benchmark_{backbone}/metrics.json for every configured backbone.
Params: weeks (T), baselines (ide.baselines), train (ide.train: crop, batch_size, positive_fraction, memory_gb),
        threshold, test_tile, seed.
Outputs: results/{run}/ide/benchmark_table.csv: one row per method: driver_f1, driver_iou,
         driver_precision, driver_recall, driver_overall_accuracy (pooled over variables, test weeks,
         valid pixels), extremes_f1, extremes_iou (methods that predict extremes);
         results/{run}/ide/benchmark_table.json: the same with per-variable metrics and provenance.
"""

from pathlib import Path

import terraflux  # noqa: F401  (first: native libraries in a safe order)
from terraflux import outputs
from terraflux.ide.stages import benchmark_table
from terraflux.ide.table import write_table
from terraflux.train import derive_seed
from terraflux.workflow.atomic import atomic_output
from terraflux.workflow.provenance import from_snakemake
from terraflux.workflow.script import setup_logging

log = setup_logging(snakemake)
params = dict(snakemake.params.items())
rows, metrics = benchmark_table(
    snakemake.input.dataset,
    snakemake.input.truth,
    snakemake.input.models,
    weeks=params["weeks"],
    baselines=params["baselines"],
    train=params["train"],
    threshold=params["threshold"],
    tile=params["test_tile"],
    seed=derive_seed(params["seed"], "ide_baselines") % 2**32,
    threads=snakemake.threads,
    resume=Path(snakemake.output.csv).parent / ".deepmil.resume.pt",
)
with atomic_output(snakemake.output.csv) as tmp:
    write_table(rows, tmp)
outputs.write_json(snakemake.output.json, {"rows": rows, "metrics": metrics}, from_snakemake(snakemake, params=params))
for row in rows:
    log.info("%-26s driver F1 %s", row["method"], row["driver_f1"])
