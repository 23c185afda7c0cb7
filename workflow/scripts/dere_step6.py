"""DERE step 6 (rules dere_step6 and dere_step6_kriging): like step 4, plus the expanded labels at gaps weighted by a
learned uncertainty weight.

Inputs: ``dataset``, ``step2``, ``step3b`` checkpoints, ``labels`` (``params.label_set`` csdi: the step-5b
labels.zarr; kriging: the evaluation layer's kriging_labels.parquet; see :mod:`terraflux.dere.labels`). Outputs as
step 4 (models named ``step6``, or ``step6_<label set>``), the metrics with the label set; each training seed
(``dere.train.seeds``) trains the folds ``params.folds`` (the label-set comparison trains fold 0 only). The labels
of every fold are step 5's (trained on fold 0's training sites; docs/dere.md#k-fold-over-sites). Runs as the rule's
data-parallel processes (see :func:`terraflux.dere.io.run_training_stage`).
"""

import terraflux  # noqa: F401
from terraflux.dere import labels, stages
from terraflux.dere.io import run_training_stage

import pandas as pd

label_set = snakemake.params.label_set
model = "step6" if label_set == "csdi" else f"step6_{label_set}"


def train(run):
    data = run.data
    times = pd.DatetimeIndex(data.ds["time"].values)
    label, label_std, imputed = labels.load(label_set, run.snakemake.input.labels, data.site_ids, times, data.fluxes)
    start = stages.FluxStart.of(data, run.cfg, run.ctx, run.load("step2")["mix"], run.load("step3b")["pft"])
    return stages.over_seeds(
        run.ctx,
        run.seeds,
        lambda seed_ctx: stages.over_folds(
            data,
            seed_ctx,
            run.folds,
            lambda fold, ctx, k: stages.step6(fold, run.cfg, ctx, start, label, label_std, imputed, per_network=k == 0),
        ),
    )


run_training_stage(
    snakemake, "step6", train, lambda run, result: run.write_in_situ(model, result, {"label_set": label_set})
)
