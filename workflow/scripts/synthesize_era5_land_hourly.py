"""Write a year of synthetic hourly ERA5-Land files, month by month, in the new-CDS NetCDF layout.

Input:  world (resources/{run}/synthetic/world.zarr); params.era5_land: variables (CDS names), hours,
        data_format (netcdf, or grib: GRIB1 under the same name); params.as_zip (synthetic.era5_land_zip:
        a zip of one NetCDF per step type, as the CDS delivers mixed step types)
Output: raw era5_land/hourly/era5-land_{year}-{month}.nc, 12 files: dims valid_time (int64 s since
        1970), latitude (descending), longitude; float32, NaN over sea; e.g. t2m K, d2m K, tp m
        (accumulated from 00 UTC), ssrd J m-2 (accumulated), swvl1 m3 m-3, sp Pa, e m of water
        equivalent (accumulated, negative = evaporation), fal 1. See terraflux.synthetic.era5_land.
"""

import json
import re

from terraflux.synthetic.era5_land import write_hourly_month
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
    year, month = map(int, re.search(r"_(\d{4})-(\d{2})\.nc$", path).groups())
    with atomic_output(path) as tmp:
        write_hourly_month(tmp, world, year, month, variables, params["hours"], params["data_format"], snakemake.params.as_zip)
    log.info("wrote %s", path)
