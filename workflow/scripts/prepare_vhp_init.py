"""Create the empty VHP store on one extremes dataset's weekly grid (rule prepare_vhp_init).

Input ``weekly``: the dataset's weekly store (grid and weeks). Output ``stores``: a staging folder with
``vhp.zarr`` (the layout of workflow/scripts/prepare_vhp.py, data chunks not yet written); the parts fill it
(rule prepare_vhp_part), finalise publishes it (rule prepare_vhp_finalise).
"""

import terraflux  # noqa: F401  (first: native libraries in a safe order)
from terraflux.prepare.vhp import init_vhp
from terraflux.workflow.atomic import atomic_output
from terraflux.workflow.script import setup_logging

log = setup_logging(snakemake)  # noqa: F821
sm = snakemake  # noqa: F821
with atomic_output(sm.output.stores) as staging:
    init_vhp(weekly_store=sm.input.weekly, stores_dir=staging)
log.info("VHP store on the %s weekly grid created in %s", sm.wildcards.dataset, sm.output.stores)
