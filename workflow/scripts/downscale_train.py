"""Train the conditional diffusion model or the deterministic U-Net baseline (params.kind).

Inputs: dataset, encoder (frozen); unet (the U-Net's checkpoint, for a diffusion
model with downscale.diffusion.around_unet).
Output: checkpoint results/{run}/downscale/{kind}/checkpoint.pt
"""

import terraflux  # noqa: F401
from terraflux.spatial import stages
from terraflux.workflow.provenance import from_snakemake
from terraflux.workflow.script import setup_logging

log = setup_logging(snakemake)
kind = snakemake.params.kind
stages.fit_model(
    kind,
    snakemake.input.dataset,
    snakemake.input.encoder,
    snakemake.params.model,
    snakemake.params.seed,
    snakemake.output.checkpoint,
    from_snakemake(snakemake),
    snakemake.input.get("unet"),
    threads=snakemake.threads,
)
