"""Write a year of the synthetic ERA5-Land daily-statistics product (one zip per month).

Input:  world (resources/{run}/synthetic/world.zarr); params.era5_land: variables, daily_statistic
Output: raw era5_land/daily/era5-land-daily_{year}-{month}.zip, 12 files, each holding one NetCDF per
        variable ({cds_name}_{daily_statistic}.nc): dims valid_time (days, 00 UTC), latitude,
        longitude; float32, NaN over sea; accumulated variables as statistics of hourly amounts.
"""

import json
import re
from pathlib import Path

from terraflux.synthetic.era5_land import write_daily_zip
from terraflux.synthetic.variables import era5_vars
from terraflux.synthetic.world import World
from terraflux.workflow.atomic import atomic_output
from terraflux.workflow.provenance import from_snakemake
from terraflux.workflow.script import setup_logging

log = setup_logging(snakemake)
log.info("provenance %s", json.dumps(from_snakemake(snakemake), sort_keys=True))
params = snakemake.params.era5_land
variables = era5_vars(params["variables"])
world = World.load(snakemake.input.world)
for path in snakemake.output.files:
    year, month = map(int, re.search(r"_(\d{4})-(\d{2})\.zip$", path).groups())
    with atomic_output(path) as tmp:
        work = tmp.parent / f"{tmp.name}.d"
        work.mkdir(exist_ok=True)
        write_daily_zip(tmp, world, year, month, variables, params["daily_statistic"], Path(work))
        work.rmdir()
    log.info("wrote %s", path)
