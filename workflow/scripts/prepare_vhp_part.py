"""Regrid one part's VHP weeks into the VHP store (rule prepare_vhp_part).

Inputs: ``stores`` (staging folder of rule prepare_vhp_init), ``weekly`` (the dataset's weekly store), ``files``
(one NOAA VHP file per week of the part's years ``params.years``; ``params.weeks`` the [year, week] of each).
Writes the weeks of the part's years; output ``part``: the part folder (``record.json``: weeks without a valid
pixel; ``edges/``: slices of chunks shared with a neighbouring part), published atomically.
"""

import terraflux  # noqa: F401  (first: native libraries in a safe order)
from terraflux.prepare import parts
from terraflux.prepare.vhp import prepare_vhp_part
from terraflux.workflow.script import setup_logging

log = setup_logging(snakemake)  # noqa: F821
sm = snakemake  # noqa: F821
files = {(year, week): path for (year, week), path in zip(sm.params.weeks, sm.input.files, strict=True)}
part = prepare_vhp_part(
    files,
    weekly_store=sm.input.weekly,
    stores_dir=sm.input.stores,
    years=tuple(sm.params.years),
    plausible=sm.params.plausible,
)
parts.save_part(part, sm.output.part)
log.info("VHP part %s on the %s grid done", part.label, sm.wildcards.dataset)
