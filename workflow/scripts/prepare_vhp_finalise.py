"""Complete the VHP store of one extremes dataset from its parts and publish it (rule prepare_vhp_finalise).

Inputs: ``stores`` (staging folder of rule prepare_vhp_init), ``parts`` (the part folders of rule
prepare_vhp_part, which must tile the period). Output ``vhp_{dataset}.zarr``: the same store as the one-job
rule prepare_vhp (workflow/scripts/prepare_vhp.py).
"""

import terraflux  # noqa: F401  (first: native libraries in a safe order)
from terraflux.prepare import parts
from terraflux.prepare.vhp import finalise_vhp
from terraflux.workflow.provenance import from_snakemake
from terraflux.workflow.script import setup_logging

log = setup_logging(snakemake)  # noqa: F821
sm = snakemake  # noqa: F821
finalise_vhp(
    sm.input.stores,
    [parts.load_part(path) for path in sm.input.parts],
    out_path=sm.output.vhp,
    period=sm.params.period,
    provenance=from_snakemake(sm, params={}),
)
log.info("VHP on the %s weekly grid prepared from %d parts", sm.wildcards.dataset, len(sm.input.parts))
