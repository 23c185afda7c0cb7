"""DERE step 2: age-aware fine-tuning of the competition branch (pure branches frozen).

Inputs: ``dataset``, ``mix`` (step-1b checkpoint). Outputs: ``checkpoint`` {"state": {"mix": state dict}},
``metrics`` JSON (fit; test-cell scores of GPP, RECO, NEE against the age-weighted process output, gC m-2 d-1,
physics residuals). Runs as the rule's data-parallel processes (see :func:`terraflux.dere.io.run_training_stage`).
"""

import terraflux  # noqa: F401
from terraflux.dere import stages
from terraflux.dere.io import run_training_stage
from terraflux.dere.predict import held_out_cell_scores


def write(run, result):
    run.save_checkpoint({"mix": result.model.state_dict()})
    scores = held_out_cell_scores(run.data, run.cfg, run.device.device, result.model, "step2", pure=result.pure)
    run.write_metrics({"fit": result.fit.as_dict(), "test": scores})


run_training_stage(
    snakemake, "step2", lambda run: stages.step2(run.data, run.cfg, run.ctx, run.load("mix")["mix"]), write
)
