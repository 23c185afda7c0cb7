"""DERE step 3: PFT model, ``a`` against the process model's per-age fractions, ``b`` against ESA-CCI (encoder frozen).

Inputs: ``dataset``, for b ``pft_a`` (step-3a checkpoint). Outputs: ``checkpoint`` {"state": {"pft": state dict}},
``metrics`` JSON (fit, test-cell fraction RMSE vs ESA-CCI, 1).
"""

import terraflux  # noqa: F401

from terraflux.dere import stages
from terraflux.dere.io import StageRun
from terraflux.workflow.script import setup_logging

log = setup_logging(snakemake)  # noqa: F821
part = snakemake.params.part  # noqa: F821
run = StageRun(snakemake, f"step3{part}")  # noqa: F821
if part == "a":
    model, fit = stages.step3a(run.data, run.cfg, run.ctx)
else:
    model, fit = stages.step3b(run.data, run.cfg, run.ctx, run.load("pft_a")["pft"])
run.save_checkpoint({"pft": model.state_dict()})
run.write_metrics({"fit": stages.fit_summary(fit), "test": stages.pft_scores(run.data, run.ctx, model)})
