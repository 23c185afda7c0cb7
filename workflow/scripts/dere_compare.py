"""DERE comparison model: backbone ``wildcards.backbone`` as ``wildcards.variant``: ``baseline`` (trained on in-situ
data only, all networks) or ``kgml`` (pretrained on the age-weighted process output with the physics loss once, then
fine-tuned on in-situ data; the pretraining once per seed), once per training seed (``dere.train.seeds``) and fold of
the sites (``params.folds``).

Input: ``dataset``. Outputs: ``checkpoint`` {"state": {"net": state dict}} of fold 0, ``predictions`` parquet
(site_id, time, model, split, network, igbp, GPP/RECO/NEE predicted and GPP_observed/..., gC m-2 d-1) of fold 0,
``held_out`` (each site's prediction by the fold that tested it, column ``fold``), ``metrics`` JSON (backbone,
variant; see :meth:`terraflux.dere.io.StageRun.write_in_situ`; for KGML also the fit of the pretraining). Runs as
the rule's data-parallel processes (see :func:`terraflux.dere.io.run_training_stage`).
"""

import terraflux  # noqa: F401
from terraflux.dere import stages
from terraflux.dere.io import run_training_stage

backbone, variant = snakemake.wildcards.backbone, snakemake.wildcards.variant


def train(run):
    def one_seed(seed_ctx):
        pretrained = stages.kgml_pretrain(run.data, run.cfg, seed_ctx, backbone) if variant == "kgml" else None
        return stages.over_folds(
            run.data,
            seed_ctx,
            run.folds,
            lambda fold, ctx, _: stages.comparison(fold, run.cfg, ctx, backbone, variant, pretrained),
        )

    return stages.over_seeds(run.ctx, run.seeds, one_seed)


run_training_stage(
    snakemake,
    f"compare_{backbone}_{variant}",
    train,
    lambda run, result: run.write_in_situ(f"{backbone}_{variant}", result, {"backbone": backbone, "variant": variant}),
)
