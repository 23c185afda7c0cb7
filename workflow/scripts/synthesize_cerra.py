"""Write a year of synthetic CERRA GRIB2 files (analysis and forecast-only precipitation), per month.

Input:  world (resources/{run}/synthetic/world.zarr); params.cerra: variables, forecast_variables, hours
Output: raw cerra/cerra_analysis_{year}-{month}.grib (e.g. t2m K, r2 %, sp Pa, tcc %, al %,
        vsw m3 m-3 at the 3-hourly analysis times) and cerra/cerra_forecast_{year}-{month}.grib
        (tp kg m-2 accumulated over 0-3 h), GRIB2 on CERRA's Lambert conformal grid (dims y, x).
"""

import json
import re

from terraflux.synthetic.cerra import write_analysis, write_forecast
from terraflux.synthetic.variables import cerra_vars
from terraflux.synthetic.world import World
from terraflux.workflow.atomic import atomic_output
from terraflux.workflow.provenance import from_snakemake
from terraflux.workflow.script import setup_logging

log = setup_logging(snakemake)
log.info("provenance %s", json.dumps(from_snakemake(snakemake), sort_keys=True))
params = snakemake.params.cerra
analysis_vars = cerra_vars(params["variables"], "sources.cerra.variables")
forecast_vars = cerra_vars(params["forecast_variables"], "sources.cerra.forecast_variables")
world = World.load(snakemake.input.world)
for writer, variables, paths in (
    (write_analysis, analysis_vars, snakemake.output.analysis),
    (write_forecast, forecast_vars, snakemake.output.forecast),
):
    for path in paths:
        year, month = map(int, re.search(r"_(\d{4})-(\d{2})\.grib$", path).groups())
        with atomic_output(path) as tmp:
            writer(tmp, world, year, month, variables, params["hours"])
        log.info("wrote %s", path)
