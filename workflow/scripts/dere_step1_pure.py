"""DERE step 1a: three pure-PFT branches sharing embedding and encoder, trained on pure cells (physics loss).

Input: ``dataset`` (dataset.zarr). Outputs: ``checkpoint`` {"state": {"mix": state dict}}, ``metrics`` JSON (fit
history; scores of each branch on its pure test cells against the process model, gC m-2 d-1).
Runs as the rule's data-parallel processes (see :func:`terraflux.dere.io.run_training_stage`).
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
            "test": held_out_cell_scores(run.data, run.cfg, run.device.device, result.model, "pure"),
        }
    )


run_training_stage(snakemake, "step1_pure", lambda run: stages.step1_pure(run.data, run.cfg, run.ctx), write)
