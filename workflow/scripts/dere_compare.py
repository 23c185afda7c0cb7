"""DERE comparison model: backbone ``wildcards.backbone`` as ``wildcards.variant``: ``baseline`` (trained on
in-situ data only, all networks) or ``kgml`` (pretrained on the age-weighted process output with the physics
loss, then fine-tuned on in-situ data).

Input: ``dataset``. Outputs: ``checkpoint`` {"state": {"net": state dict}}, ``predictions`` parquet (site_id, time,
model, split, network, igbp, GPP/RECO/NEE predicted and GPP_observed/..., gC m-2 d-1), ``metrics`` JSON (backbone,
variant; RMSE, MAE, R2, NSE, bias per flux at the held-out test sites: all, per network, per IGBP; the fits, for
KGML also of the pretraining). Runs as the rule's data-parallel processes (see
:func:`terraflux.dere.io.run_training_stage`).
"""

import terraflux  # noqa: F401
from terraflux.dere import stages
from terraflux.dere.io import run_training_stage

backbone, variant = snakemake.wildcards.backbone, snakemake.wildcards.variant
run_training_stage(
    snakemake,
    f"compare_{backbone}_{variant}",
    lambda run: stages.comparison(run.data, run.cfg, run.ctx, backbone, variant),
    lambda run, result: run.write_in_situ(f"{backbone}_{variant}", result, {"backbone": backbone, "variant": variant}),
)
