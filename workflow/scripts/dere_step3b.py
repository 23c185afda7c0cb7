"""DERE step 3b: the PFT model against ESA-CCI fractions (encoder frozen, age-weighted).

Inputs: ``dataset``, ``pft_a`` (step-3a checkpoint). Outputs: ``checkpoint`` {"state": {"pft": state dict}},
``metrics`` JSON (fit; test-cell RMSE of the fractions (1) against ESA-CCI and against the process model per age
class). Runs as the rule's data-parallel processes (see :func:`terraflux.dere.io.run_training_stage`).
"""

import terraflux  # noqa: F401
from terraflux.dere import stages
from terraflux.dere.io import run_training_stage
from terraflux.dere.predict import held_out_pft_scores


def write(run, result):
    run.save_checkpoint({"pft": result.model.state_dict()})
    run.write_metrics(
        {"fit": result.fit.as_dict(), "test": held_out_pft_scores(run.data, run.device.device, result.model)}
    )


run_training_stage(
    snakemake, "step3b", lambda run: stages.step3b(run.data, run.cfg, run.ctx, run.load("pft_a")["pft"]), write
)
