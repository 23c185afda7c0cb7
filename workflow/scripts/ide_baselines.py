"""Baselines on the IDE benchmark and one table with the trained models (same data, same metrics).

Inputs: resources/{run}/ide/benchmark/dataset.zarr, resources/{run}/ide/benchmark.zarr (true drivers),
        results/{run}/ide/benchmark_{backbone}/metrics.json for every configured backbone.
Params: weeks (T), baselines (ide.baselines), train (crop, batch_size, positive_fraction), threshold, test_tile,
        seed.
Outputs: results/{run}/ide/benchmark_table.csv: one row per method: driver_f1, driver_iou,
         driver_precision, driver_recall, driver_overall_accuracy (pooled over variables, test weeks,
         valid pixels), extremes_f1, extremes_iou (methods that predict extremes);
         results/{run}/ide/benchmark_table.json: the same with per-variable metrics and provenance.
"""

import terraflux  # noqa: F401  (first: native libraries in a safe order)
import csv
import json
from pathlib import Path

from terraflux.ide.data import WindowData, truth_drivers
from terraflux.ide.stages import evaluate, predict, train_deepmil
from terraflux.ide.table import COLUMNS, baseline_rows, row
from terraflux.train import derive_seed
from terraflux.workflow.atomic import atomic_output
from terraflux.workflow.provenance import from_snakemake
from terraflux.workflow.script import setup_logging

log = setup_logging(snakemake)
params = dict(snakemake.params.items())
seed = derive_seed(params["seed"], "ide_baselines") % 2**32
data = WindowData(snakemake.input.dataset, params["weeks"])
truth, _ = truth_drivers(snakemake.input.truth)

rows, full = [], {}
for path in snakemake.input.models:
    metrics = json.loads(Path(path).read_text())
    name = f"IDE {metrics['backbone']}"
    rows.append(row(name, metrics["drivers"], metrics["extremes"]))
    full[name] = {"drivers": metrics["drivers"], "extremes": metrics["extremes"]}

out_dir = Path(snakemake.output.csv).parent
model, device = train_deepmil(
    data,
    steps=params["baselines"]["deepmil_steps"],
    crop=params["train"]["crop"],
    batch_size=params["train"]["batch_size"],
    positive_fraction=params["train"]["positive_fraction"],
    seed=seed,
    threads=snakemake.threads,
    resume=out_dir / ".deepmil.resume.pt",
)
pred = predict(model, data, "test", tile=params["test_tile"], device=device)
pred["extremes"] = evaluate(pred, data, "test", params["threshold"], None)["extremes"]
base_rows, base_full = baseline_rows(data, truth, params["baselines"], seed, snakemake.threads, pred)
rows += base_rows
full.update(base_full)
with atomic_output(snakemake.output.csv) as tmp:
    with open(tmp, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
with atomic_output(snakemake.output.json) as tmp:
    tmp.write_text(json.dumps({"rows": rows, "metrics": full, "provenance": from_snakemake(snakemake, params=params)}, indent=2) + "\n")
for r in rows:
    log.info("%-26s driver F1 %s", r["method"], r["driver_f1"])
