"""Complete the ERA5-Land stores from their parts and publish them (rule prepare_era5_land_finalise).

Inputs: ``stores`` (staging folder of rule prepare_era5_land_init), ``parts`` (the part folders of rule
prepare_era5_land_part, which must tile the period). Outputs: ``era5_land_daily.zarr``,
``era5_land_weekly.zarr``, ``era5_land_monthly.zarr``, the same stores as the one-job rule prepare_era5_land
(workflow/scripts/prepare_era5_land.py, docs/data-layout.md).
"""

import terraflux  # noqa: F401  (first: native libraries in a safe order)
from terraflux.prepare import parts
from terraflux.prepare.era5_land import finalise_era5_land
from terraflux.workflow.provenance import from_snakemake
from terraflux.workflow.script import setup_logging

log = setup_logging(snakemake)  # noqa: F821
sm = snakemake  # noqa: F821
summary = finalise_era5_land(
    sm.input.stores,
    [parts.load_part(path) for path in sm.input.parts],
    daily_path=sm.output.daily,
    weekly_path=sm.output.weekly,
    monthly_path=sm.output.monthly,
    period=sm.params.period,
    factor=sm.params.factor,
    provenance=from_snakemake(sm),
)
log.info("ERA5-Land prepared from %d parts: %s", len(sm.input.parts), summary)
