"""DERE step 4: in-situ fine-tuning of branch 0 and the PFT model per network and for all networks (masked MSE
on GPP, RECO, NEE), from the step-2 and step-3b models.

Inputs: ``dataset``, ``step2``, ``step3b`` checkpoints. Outputs: ``checkpoint`` {"state": {network: state dicts}},
``predictions`` parquet (site_id, time, model, split, network, igbp, GPP/RECO/NEE predicted and GPP_observed/...,
gC m-2 d-1) of the model trained on all networks, ``network_predictions`` (the same for every network's model,
model ``step4_<network>``), ``metrics`` JSON (RMSE, MAE, R2, NSE, bias per flux at the held-out test sites: all,
per network, per IGBP; fits). Runs as the rule's data-parallel processes (see
:func:`terraflux.dere.io.run_training_stage`).
"""

import terraflux  # noqa: F401
from terraflux.dere import stages
from terraflux.dere.io import run_training_stage


def train(run):
    return stages.step4(run.data, run.cfg, run.ctx, run.load("step2")["mix"], run.load("step3b")["pft"])


run_training_stage(snakemake, "step4", train, lambda run, result: run.write_in_situ("step4", result, {}))
