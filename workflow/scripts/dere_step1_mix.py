"""DERE step 1b: the shared encoder frozen, branch decoders and the competition branch trained on all cells.

Inputs: ``dataset`` (dataset.zarr), ``pure`` (step-1a checkpoint). Outputs: ``checkpoint`` {"state": {"mix": state
dict}}, ``metrics`` JSON (fit history; test-cell scores of GPP, RECO, NEE per age class against the process model,
gC m-2 d-1, and physics residuals). Runs as the rule's data-parallel processes (see
:func:`terraflux.dere.io.run_training_stage`).
"""

import terraflux  # noqa: F401
from terraflux.dere import stages
from terraflux.dere.io import run_training_stage
from terraflux.dere.predict import held_out_cell_scores


def write(run, result):
    run.save_checkpoint({"mix": result.model.state_dict()})
    run.write_metrics(
        {
            "fit": result.fit.as_dict(),
            "test": held_out_cell_scores(run.data, run.cfg, run.device.device, result.model, "mix"),
        }
    )


run_training_stage(
    snakemake, "step1_mix", lambda run: stages.step1_mix(run.data, run.cfg, run.ctx, run.load("pure")["mix"]), write
)
