"""Create the empty ERA5-Land daily, weekly and monthly stores of the period (rule prepare_era5_land_init).

Input ``first``: the period's first monthly file (its grid and variable attributes). Output ``stores``: a
staging folder with ``daily.zarr``, ``weekly.zarr``, ``monthly.zarr`` (the layouts of
workflow/scripts/prepare_era5_land.py, data chunks not yet written) and ``layout.json``; the parts fill it
(rule prepare_era5_land_part) and finalise moves the stores to resources/{run}/prepared/.
"""

import terraflux  # noqa: F401  (first: native libraries in a safe order)
from terraflux.prepare.era5_land import init_era5_land
from terraflux.workflow.atomic import atomic_output
from terraflux.workflow.script import setup_logging

log = setup_logging(snakemake)  # noqa: F821
sm = snakemake  # noqa: F821
era5 = sm.params.era5_land
with atomic_output(sm.output.stores) as staging:
    init_era5_land(
        [sm.input.first],
        stores_dir=staging,
        variables=era5["variables"],
        region=sm.params.region,
        period=sm.params.period,
        factor=sm.params.factor,
        product=era5["product"],
    )
log.info("ERA5-Land stores created in %s", sm.output.stores)
