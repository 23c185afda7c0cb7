"""DERE step 2: age-aware fine-tuning of the competition branch (pure branches frozen).

Inputs: ``dataset``, ``mix`` (step-1 mix checkpoint). Outputs: ``checkpoint`` {"state": {"mix": state dict}},
``metrics`` JSON (fit, test-cell scores of GPP, RECO, NEE vs the age-weighted process output, physics residuals).
"""

import terraflux  # noqa: F401

from terraflux.dere import stages
from terraflux.dere.io import StageRun
from terraflux.workflow.script import setup_logging

log = setup_logging(snakemake)  # noqa: F821
run = StageRun(snakemake, "step2")  # noqa: F821
model, pure, fit = stages.step2(run.data, run.cfg, run.ctx, run.load("mix")["mix"])
run.save_checkpoint({"mix": model.state_dict()})
run.write_metrics({"fit": stages.fit_summary(fit), "test": stages.cell_scores(run.data, run.cfg, run.ctx, model, "step2", pure=pure)})
