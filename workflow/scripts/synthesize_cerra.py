"""Write a year of synthetic CERRA GRIB2 files (analysis and forecast-only precipitation), per month.

Input:  world (resources/{run}/synthetic/world.zarr); wildcard year; params.cerra: variables,
        forecast_variables, hours; params.months: the months of the output files, in their order
Output: the year's analysis and forecast files (terraflux.sources.cerra.PATH): analysis e.g. t2m K, r2 %,
        sp Pa, tcc %, al %, vsw m3 m-3 at the 3-hourly analysis times; forecast tp kg m-2 accumulated over
        0-3 h; GRIB2 on CERRA's Lambert conformal grid (dims y, x).
"""

import json

from terraflux.sources import cerra
from terraflux.synthetic.cerra import write_analysis, write_forecast
from terraflux.synthetic.world import World
from terraflux.workflow.atomic import atomic_output
from terraflux.workflow.provenance import from_snakemake
from terraflux.workflow.script import setup_logging

log = setup_logging(snakemake)
log.info("provenance %s", json.dumps(from_snakemake(snakemake), sort_keys=True))
params = snakemake.params.cerra
year = int(snakemake.wildcards.year)
world = World.load(snakemake.input.world)
for writer, key, paths in (
    (write_analysis, "variables", snakemake.output.analysis),
    (write_forecast, "forecast_variables", snakemake.output.forecast),
):
    variables = cerra.variables(params[key], f"sources.cerra.{key}")
    for month, path in zip(snakemake.params.months, paths, strict=True):
        with atomic_output(path) as tmp:
            writer(tmp, world, year, int(month), variables, params["hours"])
        log.info("wrote %s", path)
