"""Downscaling pairs on the fine grid (terraflux.spatial.downscale_data).

Inputs:  coarse, fine  prepared stores named by config downscale.coarse / downscale.fine
Output:  dataset       resources/{run}/downscale/dataset.zarr (layout: docs/spatial.md)
"""

import terraflux  # noqa: F401
from terraflux.spatial import stages
from terraflux.workflow.provenance import from_snakemake
from terraflux.workflow.script import setup_logging

log = setup_logging(snakemake)
params = snakemake.params
stages.dataset(
    snakemake.input.coarse,
    snakemake.input.fine,
    params.downscale,
    params.period,
    params.mem_mb,
    snakemake.output.dataset,
    from_snakemake(snakemake),
)
