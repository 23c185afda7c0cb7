"""Create the empty CERRA weekly store of the period on the native grid (rule prepare_cerra_init).

Input ``first``: the period's first month's analysis (and forecast) files: grid, variables, attributes. Output
``stores``: a staging folder with ``weekly.zarr`` (the layout of workflow/scripts/prepare_cerra.py on the native
grid, data chunks not yet written), with ``params.daily`` also ``daily.zarr``, and ``layout.json``; the parts fill
it (rule prepare_cerra_part), finalise publishes it (rule prepare_cerra_finalise).
"""

import terraflux  # noqa: F401  (first: native libraries in a safe order)
from terraflux.prepare.cerra import init_cerra
from terraflux.workflow.atomic import atomic_output
from terraflux.workflow.script import setup_logging

log = setup_logging(snakemake)  # noqa: F821
sm = snakemake  # noqa: F821
with atomic_output(sm.output.stores) as staging:
    init_cerra(
        list(sm.input.first),
        stores_dir=staging,
        variables=[],
        period=sm.params.period,
        crop=sm.params.cerra["crop"],
        daily=sm.params.daily,
    )
log.info("CERRA weekly store created in %s", sm.output.stores)
