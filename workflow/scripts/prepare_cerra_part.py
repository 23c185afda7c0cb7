"""Reduce one part's months into the CERRA weekly store (rule prepare_cerra_part).

Inputs: ``stores`` (the staging folder of rule prepare_cerra_init), ``files`` (per month of the part's years
``params.years`` [first, last], in month order: the analysis file and, when ``params.products`` is 2, the
forecast file). Writes the weeks of the part's years; output ``part``: the part folder (``edges/``: slices of
chunks shared with a neighbouring part; ``valid.npy``: points with data in every step), published atomically.
"""

import terraflux  # noqa: F401  (first: native libraries in a safe order)
from terraflux.prepare import parts
from terraflux.prepare.cerra import prepare_cerra_part
from terraflux.prepare.era5_land import workers_for
from terraflux.workflow.script import setup_logging

log = setup_logging(snakemake)  # noqa: F821
sm = snakemake  # noqa: F821
first, last = sm.params.years
months = [(y, m) for y in range(first, last + 1) for m in range(1, 13)]
n = sm.params.products
paths = list(sm.input.files)
files = {month: paths[i * n : (i + 1) * n] for i, month in enumerate(months)}
part = prepare_cerra_part(
    files,
    stores_dir=sm.input.stores,
    years=(first, last),
    period=sm.params.period,
    crop=sm.params.cerra["crop"],
    workers=workers_for(sm.threads),
    plausible=sm.params.plausible,
)
parts.save_part(part, sm.output.part)
log.info("CERRA part %s done", part.label)
