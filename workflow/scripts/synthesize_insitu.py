"""Write the synthetic flux-tower sites, in CarbonSense v1 or FLUXNET2015 FULLSET layout.

Input:  world (resources/{run}/synthetic/world.zarr); wildcard insitu_format (carbonsense | fluxnet2015)
Output: raw insitu/carbonsense/: CarbonSense v1 site folders (targets hourly NEE_VUT_REF, GPP_DT/NT_VUT_REF,
        RECO_DT/NT_VUT_REF in umol CO2 m-2 s-1, NaN gaps; predictors min-max normalised), or raw
        insitu/fluxnet2015/: FLUXNET2015 FULLSET DD and MM files and sites.csv (fluxes gC m-2 d-1, -9999
        missing, _QC = share of measured records); layouts in terraflux.sources.insitu.
"""

import json

from terraflux.synthetic.towers import write_carbonsense, write_fluxnet
from terraflux.synthetic.world import World
from terraflux.workflow.atomic import atomic_output
from terraflux.workflow.provenance import from_snakemake
from terraflux.workflow.script import setup_logging

log = setup_logging(snakemake)
log.info("provenance %s", json.dumps(from_snakemake(snakemake), sort_keys=True))
world = World.load(snakemake.input.world)
writer = {"carbonsense": write_carbonsense, "fluxnet2015": write_fluxnet}[snakemake.wildcards.insitu_format]
with atomic_output(snakemake.output.data) as tmp:
    written = writer(tmp, world)
log.info("wrote %d site entries under %s", len(written), snakemake.output.data)
