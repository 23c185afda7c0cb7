"""DERE step 1: ``pure`` (three PFT branches on pure cells) or ``mix`` (branches + competition branch, all cells).

Inputs: ``dataset`` (dataset.zarr), for mix ``pure`` (step-1 pure checkpoint). Outputs: ``checkpoint`` {"state": {"mix":
state dict}}, ``metrics`` JSON (fit history, test-cell physics loss). Stage chosen by ``params.part``.

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
    run = StageRun(snakemake, f"step1_{part}")  # noqa: F821
    run.ctx.dist = dist
    if part == "pure":
        model, fit = stages.step1_pure(run.data, run.cfg, run.ctx)
    else:
        model, fit = stages.step1_mix(run.data, run.cfg, run.ctx, run.load("pure")["mix"])
    if dist.is_main:
        run.save_checkpoint({"mix": model.state_dict()})
        run.write_metrics({"fit": stages.fit_summary(fit), "test": stages.cell_scores(run.data, run.cfg, run.ctx, model, part)})
