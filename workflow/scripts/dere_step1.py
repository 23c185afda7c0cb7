"""DERE step 1: ``pure`` (three PFT branches on pure cells) or ``mix`` (branches + competition branch, all cells).

Inputs: ``dataset`` (dataset.zarr), for mix ``pure`` (step-1 pure checkpoint). Outputs: ``checkpoint`` {"state": {"mix":
state dict}}, ``metrics`` JSON (fit history, test-cell physics loss). Stage chosen by ``params.part``.
"""

import terraflux  # noqa: F401

from terraflux.dere import stages
from terraflux.dere.io import StageRun
from terraflux.workflow.script import setup_logging

log = setup_logging(snakemake)  # noqa: F821
part = snakemake.params.part  # noqa: F821
run = StageRun(snakemake, f"step1_{part}")  # noqa: F821
if part == "pure":
    model, fit = stages.step1_pure(run.data, run.cfg, run.ctx)
else:
    model, fit = stages.step1_mix(run.data, run.cfg, run.ctx, run.load("pure")["mix"])
run.save_checkpoint({"mix": model.state_dict()})
run.write_metrics({"fit": stages.fit_summary(fit), "test": stages.cell_scores(run.data, run.cfg, run.ctx, model, part)})
