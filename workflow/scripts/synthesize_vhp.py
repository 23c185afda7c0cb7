"""Write a year of synthetic NOAA VHP weekly files (VHI, VCI, TCI).

Input:  world (resources/{run}/synthetic/world.zarr); wildcards satellite, year; params.weeks: the weeks of the
        output files, in their order
Output: the year's 52 raw weekly files (terraflux.sources.vhp.PATH): dims HEIGHT x WIDTH
        (pixels of the global 0.036 deg VHP grid inside the region, north row first; edges in the
        START/END_LATITUDE_RANGE, START/END_LONGITUDE_RANGE attributes), VHI, VCI, TCI float32 0..100
        (fill -999 over sea), QA int16. VHI < 26 exactly inside the world's extreme events.
"""

import json
from contextlib import ExitStack

from terraflux.synthetic.vhp import write_year
from terraflux.synthetic.world import World
from terraflux.workflow.atomic import atomic_output
from terraflux.workflow.provenance import from_snakemake
from terraflux.workflow.script import setup_logging

log = setup_logging(snakemake)
log.info("provenance %s", json.dumps(from_snakemake(snakemake), sort_keys=True))
world = World.load(snakemake.input.world)
year = int(snakemake.wildcards.year)
weeks = {int(week): path for week, path in zip(snakemake.params.weeks, snakemake.output.files, strict=True)}
# Write every week to its temporary sibling, then publish them one by one (atomic per file).
with ExitStack() as stack:
    temporaries = {week: stack.enter_context(atomic_output(path)) for week, path in weeks.items()}
    write_year(temporaries, world, year, snakemake.wildcards.satellite)
log.info("wrote %d files", len(weeks))
