"""DERE step 3: PFT model, ``a`` against the process model's per-age fractions, ``b`` against ESA-CCI (encoder frozen).

Inputs: ``dataset``, for b ``pft_a`` (step-3a checkpoint). Outputs: ``checkpoint`` {"state": {"pft": state dict}},
``metrics`` JSON (fit, test-cell fraction RMSE vs ESA-CCI, 1).

Several processes (config ``compute.train.tasks``/``gpus``, resources ``tasks``): :func:`launch.start` starts the
script as N data-parallel tasks (srun) that train together; rank 0 writes the outputs and the rule's log, rank N logs to
``<log>.rank<N>``.
"""

import terraflux  # noqa: F401

from terraflux.dere import stages
from terraflux.dere.io import StageRun
from terraflux.train import launch
from terraflux.workflow.script import setup_logging

log = setup_logging(snakemake, log_path=launch.rank_log(snakemake.log[0]))  # noqa: F821
launch.start(snakemake)  # noqa: F821  (batch step of a multi-task job: exec srun -n N; in a task: returns)
part = snakemake.params.part  # noqa: F821
with launch.session() as dist:
    run = StageRun(snakemake, f"step3{part}")  # noqa: F821
    run.ctx.dist = dist
    if part == "a":
        model, fit = stages.step3a(run.data, run.cfg, run.ctx)
    else:
        model, fit = stages.step3b(run.data, run.cfg, run.ctx, run.load("pft_a")["pft"])
    if dist.is_main:
        run.save_checkpoint({"pft": model.state_dict()})
        run.write_metrics({"fit": stages.fit_summary(fit), "test": stages.pft_scores(run.data, run.ctx, model)})
