"""DERE comparison table: scores at held-out sites of DERE step 6, step 4 and every backbone x variant.

Inputs: the metrics JSON of ``step4``, ``step6``, ``step5`` and ``compare`` (one per ``params.compare`` pair
(backbone, variant), in order). Output: ``summary`` JSON: ``rows`` (model, backbone, variant, scores as the
stages scored them, pooled over folds: all, per network, per IGBP; fold_spread and seed_spread: mean and std over
folds, over training seeds), ``table`` (the same as long records), ``nee_rmse`` per model (mean, std over folds,
``seed_std`` over training seeds), ``ordering`` (per backbone: whether DERE step 6 <= step 4 < KGML < Baseline for
NEE RMSE averaged over folds and seeds), the CSDI hold-out scores (fold 0).
"""

import json
from pathlib import Path

import terraflux  # noqa: F401
from terraflux import outputs
from terraflux.dere.summary import comparison_rows, flat_table, paper_ordering
from terraflux.workflow.provenance import from_snakemake
from terraflux.workflow.script import setup_logging

log = setup_logging(snakemake)
sm = snakemake
read = lambda path: json.loads(Path(path).read_text())  # noqa: E731
steps = {name: read(getattr(sm.input, name)) for name in ("step4", "step6")}
compare = {tuple(pair): read(path) for pair, path in zip(sm.params.compare, sm.input.compare, strict=True)}
rows = comparison_rows(steps, compare)
nee = {
    r["model"]: {**r["fold_spread"]["NEE"]["rmse"], "seed_std": r["seed_spread"]["NEE"]["rmse"]["std"]} for r in rows
}
ordering = paper_ordering(rows)
csdi = {f: {k: v for k, v in s.items() if k != "fit"} for f, s in read(sm.input.step5)["scores"].items()}
log.info(
    "NEE RMSE at held-out sites (mean, std over folds and seeds): %s; step 6 <= step 4 < KGML < Baseline: %s",
    nee,
    ordering,
)
outputs.write_json(
    sm.output.summary,
    {"nee_rmse": nee, "ordering": ordering, "rows": rows, "table": flat_table(rows), "csdi": csdi},
    from_snakemake(sm),
)
