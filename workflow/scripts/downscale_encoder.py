"""Transfer encoder pretrained on the coarse series (terraflux.spatial.stages.encoder).

Input:  dataset     resources/{run}/downscale/dataset.zarr
Output: checkpoint  results/{run}/downscale/encoder/checkpoint.pt (state, width, training losses, provenance)
"""

import terraflux  # noqa: F401
from terraflux.spatial import stages
from terraflux.workflow.provenance import from_snakemake
from terraflux.workflow.script import setup_logging

log = setup_logging(snakemake)
stages.encoder(
    snakemake.input.dataset,
    snakemake.params.encoder,
    snakemake.params.seed,
    snakemake.output.checkpoint,
    from_snakemake(snakemake),
    threads=snakemake.threads,
)
