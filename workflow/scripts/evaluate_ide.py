"""The IDE paper's table: every IDE run and every baseline on the same data with the same metrics.

Inputs:  metrics    results/{run}/ide/{name}/metrics.json per IDE run (name = <dataset>_<backbone>...), test
                    split's "extremes" and "drivers" scores (and "val" where the run has them)
         baselines  results/{run}/ide/baselines/{dataset}/{method}.json: the same layout, with "val"
Outputs: scores  results/{run}/evaluate/ide_scores.csv: dataset, method, run, split (test | val), task
                 (extremes | drivers), scope (pooled or a variable), metric (f1, iou, precision, recall,
                 overall_accuracy), value (1)
         table   results/{run}/evaluate/ide_table.csv: one row per (dataset, method), runs (e.g. seeds)
                 aggregated: mean and std of F1, IoU, overall accuracy for drivers (pooled and per variable)
                 and extremes, test and val; the published test driver F1 (terraflux.ide.table)
         figure  results/{run}/evaluate/ide_scores.png: test F1 and IoU of every method, drivers and extremes
"""

import json

import terraflux  # noqa: F401
from terraflux.evaluate import figures
from terraflux.evaluate.ide import COLUMNS, score_rows
from terraflux.ide.table import paper_table, write_table
from terraflux.workflow.atomic import atomic_output
from terraflux.workflow.script import setup_logging

import pandas as pd

log = setup_logging(snakemake)
names = [*snakemake.params.names, *snakemake.params.baseline_names]
paths = [*snakemake.input.metrics, *snakemake.input.baselines]
rows = []
for name, path in zip(names, paths, strict=True):
    rows += score_rows(name, json.loads(open(path).read()))
scores = pd.DataFrame(rows, columns=list(COLUMNS))
with atomic_output(snakemake.output.scores) as tmp:
    scores.to_csv(tmp, index=False, float_format="%.4g")
table = paper_table(scores)
with atomic_output(snakemake.output.table) as tmp:
    write_table(table, tmp)
test = scores[(scores["split"] == "test") & (scores["scope"] == "pooled") & scores["metric"].isin(["f1", "iou"])]
wide = (
    test.assign(x=test["dataset"] + " " + test["task"], hue=test["method"])
    .pivot_table(index=["x", "hue"], columns="metric", values="value")
    .reset_index()
)
fig = figures.grouped_bars(
    wide,
    x="x",
    hue="hue",
    metrics=[("f1", "F1 (1)"), ("iou", "IoU (1)")],
    title="IDE and baselines: extremes and driver detection, test split (mean over runs)",
)
figures.save(fig, snakemake.output.figure)
for _, row in table.iterrows():
    log.info(
        "%s %-28s drivers F1 %s (paper %s), extremes F1 %s",
        row["dataset"],
        row["method"],
        row.get("test_drivers_f1"),
        row["paper_test_driver_f1"],
        row.get("test_extremes_f1"),
    )
log.info("IDE table of %d score files written to %s", len(paths), snakemake.output.table)
