"""Reduce one part's months into the ERA5-Land stores (rule prepare_era5_land_part).

Inputs: ``stores`` (the staging folder of rule prepare_era5_land_init), ``files`` (the part's monthly files and
the next month's when the period goes on; ``params.months`` the [year, month] of each), ``params.years``
[first, last]. Writes the chunks inside the part's years into the stores; output ``part``: the part folder
(``record.json``: training months' statistics, ERA5T and extrapolation notes; ``edges/``: slices of chunks
shared with a neighbouring part; ``land.npy``), published atomically when the part is complete.
"""

import terraflux  # noqa: F401  (first: native libraries in a safe order)
from terraflux.prepare import parts
from terraflux.prepare.era5_land import prepare_era5_land_part, workers_for
from terraflux.workflow.script import setup_logging

log = setup_logging(snakemake)  # noqa: F821
sm = snakemake  # noqa: F821
era5 = sm.params.era5_land
files = {(year, month): [path] for (year, month), path in zip(sm.params.months, sm.input.files, strict=True)}
part = prepare_era5_land_part(
    files,
    stores_dir=sm.input.stores,
    years=tuple(sm.params.years),
    variables=era5["variables"],
    region=sm.params.region,
    period=sm.params.period,
    factor=sm.params.prepare["model_grid_factor"],
    product=era5["product"],
    hours=era5["hours"],
    workers=workers_for(sm.threads),
    memory_mb=sm.resources.mem_mb,  # fewer workers if their months would not fit
    strict=sm.params.prepare["strict_months"],
    plausible=sm.params.plausible,
)
parts.save_part(part, sm.output.part)
log.info("ERA5-Land part %s done", part.label)
