"""NOAA VHP weekly files -> VHI and drought-extreme masks on an extremes dataset's weekly grid (rule prepare_vhp).

Inputs: ``files`` (one NOAA VHP file per week of the period, ``params.weeks`` the [year, week] of each),
``weekly`` (the dataset's weekly store: grid and weeks). Output ``vhp_{dataset}.zarr``:

| variable | dims | units |
|---|---|---|
| VHI | (time, latitude, longitude) or (time, y, x) | 1 (0..100) |
| extreme (VHI < 26), extreme_loose (VHI < 35), valid | same | bool |
"""

import terraflux  # noqa: F401  (first: native libraries in a safe order)
from terraflux.prepare.vhp import prepare_vhp
from terraflux.workflow.provenance import from_snakemake
from terraflux.workflow.script import setup_logging

log = setup_logging(snakemake)  # noqa: F821
sm = snakemake  # noqa: F821
files = {(year, week): path for (year, week), path in zip(sm.params.weeks, sm.input.files, strict=True)}
prepare_vhp(
    files,
    weekly_store=sm.input.weekly,
    out_path=sm.output.vhp,
    plausible=sm.params.plausible,
    provenance=from_snakemake(sm, params={}),
)
log.info("VHP on the %s weekly grid written", sm.wildcards.dataset)
