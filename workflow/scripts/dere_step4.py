"""DERE step 4: in-situ fine-tuning of branch 0 and the PFT model per network and for all networks (masked MSE on GPP,
RECO, NEE), from the step-2 and step-3b models, once per training seed (``dere.train.seeds``) and fold of the sites
(``params.folds``; the per-network models in fold 0 only).

Inputs: ``dataset``, ``step2``, ``step3b`` checkpoints. Outputs: ``checkpoint`` {"state": {network: state dicts}},
``predictions`` parquet (site_id, time, model, split, network, igbp, GPP/RECO/NEE predicted and GPP_observed/..., gC
m-2 d-1) of fold 0's model trained on all networks, ``network_predictions`` (the same for every network's model of
fold 0, model ``step4_<network>``), ``held_out`` (each site's prediction by the fold that tested it, column
``fold``), ``metrics`` JSON (see :meth:`terraflux.dere.io.StageRun.write_in_situ`). Runs as the rule's data-parallel
processes (see :func:`terraflux.dere.io.run_training_stage`).
"""

import terraflux  # noqa: F401
from terraflux.dere import stages
from terraflux.dere.io import run_training_stage


def train(run):
    start = stages.FluxStart.of(run.data, run.cfg, run.ctx, run.load("step2")["mix"], run.load("step3b")["pft"])
    return stages.over_seeds(
        run.ctx,
        run.seeds,
        lambda seed_ctx: stages.over_folds(
            run.data,
            seed_ctx,
            run.folds,
            lambda fold, ctx, k: stages.step4(fold, run.cfg, ctx, start, per_network=k == 0),
        ),
    )


run_training_stage(snakemake, "step4", train, lambda run, result: run.write_in_situ("step4", result, {}))
