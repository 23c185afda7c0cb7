"""DERE step 2: age-aware fine-tuning of the competition branch (pure branches frozen).

Inputs: ``dataset``, ``mix`` (step-1 mix checkpoint). Outputs: ``checkpoint`` {"state": {"mix": state dict}},
``metrics`` JSON (fit, test-cell scores of GPP, RECO, NEE vs the age-weighted process output, physics residuals).

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
with launch.session() as dist:
    run = StageRun(snakemake, "step2")  # noqa: F821
    run.ctx.dist = dist
    model, pure, fit = stages.step2(run.data, run.cfg, run.ctx, run.load("mix")["mix"])
    if dist.is_main:
        run.save_checkpoint({"mix": model.state_dict()})
        run.write_metrics({"fit": stages.fit_summary(fit), "test": stages.cell_scores(run.data, run.cfg, run.ctx, model, "step2", pure=pure)})
