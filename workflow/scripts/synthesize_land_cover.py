"""Write the year's synthetic ESA-CCI / C3S land-cover zip (as the CDS satellite-land-cover returns it).

Input:  world (resources/{run}/synthetic/world.zarr)
Output: the year's raw zip (terraflux.sources.land_cover.PATHS["lccs"]) holding the NetCDF the CDS names for
        the region's area: lccs_class uint8 (time, lat, lon) at 1/360 deg, latitude descending, and the
        ancillary variables of the real file.
"""

import json

from terraflux.synthetic.land_cover import write_zip
from terraflux.synthetic.world import World
from terraflux.workflow.atomic import atomic_output
from terraflux.workflow.provenance import from_snakemake
from terraflux.workflow.script import setup_logging

log = setup_logging(snakemake)
log.info("provenance %s", json.dumps(from_snakemake(snakemake), sort_keys=True))
world = World.load(snakemake.input.world)
with atomic_output(snakemake.output.data) as tmp:
    work = tmp.parent / f"{tmp.name}.d"
    work.mkdir(exist_ok=True)
    write_zip(tmp, world, int(snakemake.wildcards.year), work)
    work.rmdir()
log.info("wrote %s", snakemake.output.data)
