"""Autoregressive reconstruction of the fine series over the whole period (params.kind: diffusion, unet).

Inputs: dataset, encoder, checkpoint; unet (the U-Net's checkpoint, for a diffusion
model with downscale.diffusion.around_unet).
Output: predictions results/{run}/downscale/{kind}/predictions.zarr
with fine(member, variable, time, y, x) in the fine store's units.
"""

import terraflux  # noqa: F401
from terraflux.spatial import stages
from terraflux.workflow.provenance import from_snakemake
from terraflux.workflow.script import setup_logging

log = setup_logging(snakemake)
kind = snakemake.params.kind
stages.predict(
    kind,
    snakemake.input.dataset,
    snakemake.input.encoder,
    snakemake.input.checkpoint,
    snakemake.params.model,
    snakemake.params.seed,
    snakemake.output.predictions,
    from_snakemake(snakemake),
    snakemake.input.get("unet"),
    threads=snakemake.threads,
)
