"""Complete the CERRA weekly store from its parts and publish it (rule prepare_cerra_finalise).

Inputs: ``stores`` (staging folder of rule prepare_cerra_init), ``parts`` (the part folders of rule
prepare_cerra_part, which must tile the period). Output ``cerra_weekly.zarr``: the same store as the one-job
rule prepare_cerra (workflow/scripts/prepare_cerra.py), reprojected with ``prepare.cerra.reproject_crs``; output
``daily`` (when the downscaling pair asks for it) ``cerra_daily.zarr``.
"""

import terraflux  # noqa: F401  (first: native libraries in a safe order)
from terraflux.prepare import parts
from terraflux.prepare.cerra import finalise_cerra
from terraflux.prepare.regrid import Target
from terraflux.workflow.provenance import from_snakemake
from terraflux.workflow.script import setup_logging

log = setup_logging(snakemake)  # noqa: F821
sm = snakemake  # noqa: F821
finalise_cerra(
    sm.input.stores,
    [parts.load_part(path) for path in sm.input.parts],
    out_path=sm.output.weekly,
    period=sm.params.period,
    reproject=Target.from_config(sm.params.cerra),
    provenance=from_snakemake(sm),
    daily_path=sm.output.get("daily"),
)
log.info("CERRA weekly store prepared from %d parts", len(sm.input.parts))
