"""Write a year of the synthetic ERA5-Land daily-statistics product (one zip per month).

Input:  world (resources/{run}/synthetic/world.zarr); wildcard year; params.era5_land: variables,
        daily_statistic; params.months: the months of the output files, in their order
Output: the year's 12 raw zips (terraflux.sources.era5_land.PATHS["daily"]), each holding one NetCDF per
        variable: dims valid_time (days, 00 UTC), latitude, longitude; float32, NaN over sea; accumulated
        variables as statistics of hourly amounts.
"""

import json
from pathlib import Path

from terraflux.sources import era5_land
from terraflux.synthetic.era5_land import write_daily_zip
from terraflux.synthetic.world import World
from terraflux.workflow.atomic import atomic_output
from terraflux.workflow.provenance import from_snakemake
from terraflux.workflow.script import setup_logging

log = setup_logging(snakemake)
log.info("provenance %s", json.dumps(from_snakemake(snakemake), sort_keys=True))
params = snakemake.params.era5_land
year = int(snakemake.wildcards.year)
variables = era5_land.variables(params["variables"])
world = World.load(snakemake.input.world)
for month, path in zip(snakemake.params.months, snakemake.output.files, strict=True):
    with atomic_output(path) as tmp:
        work = tmp.parent / f"{tmp.name}.d"
        work.mkdir(exist_ok=True)
        write_daily_zip(tmp, world, year, int(month), variables, params["daily_statistic"], Path(work))
        work.rmdir()
    log.info("wrote %s", path)
