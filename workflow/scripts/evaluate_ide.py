"""IDE scores against the baselines, as one table and one figure.

Inputs:  metrics  results/{run}/ide/{name}/metrics.json per trained IDE model (name = <dataset>_<backbone>),
                  with "extremes" and "drivers" score dicts
         table    results/{run}/ide/benchmark_table.json (when the benchmark is trained): the baselines'
                  metrics on the same data, attached to every benchmark model
Outputs: table   results/{run}/evaluate/ide_scores.csv: model, method, task (extremes | drivers), scope
                 (pooled or a variable), metric (f1, iou, precision, recall, overall_accuracy), value (1)
         figure  results/{run}/evaluate/ide_scores.png: F1 and IoU per method for drivers and extremes
"""

import json

import terraflux  # noqa: F401
from terraflux.evaluate import figures
from terraflux.evaluate.ide import baselines_of, score_rows
from terraflux.workflow.atomic import atomic_output
from terraflux.workflow.script import setup_logging

import pandas as pd

log = setup_logging(snakemake)
baselines = baselines_of(json.loads(open(snakemake.input.table).read())) if "table" in snakemake.input.keys() else {}
rows = []
for name, path in zip(snakemake.params.names, snakemake.input.metrics, strict=True):
    rows += score_rows(name, json.loads(open(path).read()), baselines if name.startswith("benchmark_") else None)
table = pd.DataFrame(rows)
with atomic_output(snakemake.output.table) as tmp:
    table.to_csv(tmp, index=False, float_format="%.4g")
pooled = table[(table["scope"] == "pooled") & table["metric"].isin(["f1", "iou"])]
wide = (
    pooled.assign(x=pooled["model"] + " " + pooled["task"], hue=pooled["method"])
    .pivot_table(index=["x", "hue"], columns="metric", values="value")
    .reset_index()
)
fig = figures.grouped_bars(
    wide,
    x="x",
    hue="hue",
    metrics=[("f1", "F1 (1)"), ("iou", "IoU (1)")],
    title="IDE: extremes and driver detection, test split, against baselines",
)
figures.save(fig, snakemake.output.figure)
log.info("IDE scores of %d models written to %s", len(snakemake.input.metrics), snakemake.output.table)
