"""Write a year of synthetic NOAA VHP weekly files (VHI, VCI, TCI).

Input:  world (resources/{run}/synthetic/world.zarr)
Output: raw vhp/VHP.G04.C07.{satellite}.P{year}{week}.VH.nc, weeks 001..052: dims HEIGHT x WIDTH
        (pixels of the global 0.036 deg VHP grid inside the region, north row first; edges in the
        START/END_LATITUDE_RANGE, START/END_LONGITUDE_RANGE attributes), VHI, VCI, TCI float32 0..100
        (fill -999 over sea), QA int16. VHI < 26 exactly inside the world's extreme events.
"""

import json
import re
from contextlib import ExitStack

from terraflux.synthetic.extremes import write_vhp_year
from terraflux.synthetic.world import World
from terraflux.workflow.atomic import atomic_output
from terraflux.workflow.provenance import from_snakemake
from terraflux.workflow.script import setup_logging

log = setup_logging(snakemake)
log.info("provenance %s", json.dumps(from_snakemake(snakemake), sort_keys=True))
world = World.load(snakemake.input.world)
year = int(snakemake.wildcards.year)
weeks = {int(re.search(r"\.P\d{4}(\d{3})\.VH\.nc$", path).group(1)): path for path in snakemake.output.files}
# Write every week to its temporary sibling, then publish them one by one (atomic per file).
with ExitStack() as stack:
    temporaries = {week: stack.enter_context(atomic_output(path)) for week, path in weeks.items()}
    write_vhp_year(temporaries, world, year, snakemake.wildcards.satellite)
log.info("wrote %d files", len(weeks))
