"""Write a year of synthetic ERA5-Land files, month by month, as the CDS delivers them (rules
synthesize_era5_land_hourly and synthesize_era5_land_daily, ``params.product`` says which).

Input:  world (resources/{run}/synthetic/world.zarr); wildcard year; params.months: the months of the output
        files, in their order; params.era5_land: variables (CDS names) and
        - hourly: hours, data_format (netcdf, or grib: GRIB1 under the same name); params.as_zip
          (synthetic.era5_land_zip: a zip of one NetCDF per step type, as the CDS delivers mixed step types);
        - daily: daily_statistic.
Output: the year's 12 raw files (terraflux.sources.era5_land.PATHS[product]).
        hourly: dims valid_time (int64 s since 1970), latitude (descending), longitude; float32, NaN over sea;
        e.g. t2m K, d2m K, tp m (accumulated from 00 UTC), ssrd J m-2 (accumulated), swvl1 m3 m-3, sp Pa,
        e m of water equivalent (accumulated, negative = evaporation), fal 1.
        daily: a zip per month holding one NetCDF per variable, one valid_time per day (00 UTC); accumulated
        variables as statistics of hourly amounts. See terraflux.sources.era5_land.write.
"""

import json
from pathlib import Path

from terraflux.sources import era5_land
from terraflux.synthetic.era5_land import write_daily_zip, write_hourly_month
from terraflux.synthetic.world import World
from terraflux.workflow.atomic import atomic_output
from terraflux.workflow.provenance import from_snakemake
from terraflux.workflow.script import setup_logging

log = setup_logging(snakemake)
log.info("provenance %s", json.dumps(from_snakemake(snakemake), sort_keys=True))
params = snakemake.params.era5_land
product = snakemake.params.product
year = int(snakemake.wildcards.year)
variables = era5_land.variables(params["variables"])
world = World.load(snakemake.input.world)
for month, path in zip(snakemake.params.months, snakemake.output.files, strict=True):
    with atomic_output(path) as tmp:
        if product == "hourly":
            write_hourly_month(
                tmp,
                world,
                year,
                int(month),
                variables,
                params["hours"],
                data_format=params["data_format"],
                as_zip=snakemake.params.as_zip,
            )
        else:
            work = tmp.parent / f"{tmp.name}.d"
            work.mkdir(exist_ok=True)
            write_daily_zip(tmp, world, year, int(month), variables, params["daily_statistic"], Path(work))
            work.rmdir()
    log.info("wrote %s", path)
