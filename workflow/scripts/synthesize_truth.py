"""Write the ground truth of the synthetic world (read by evaluation only, never by model stages).

Input:  world (resources/{run}/synthetic/world.zarr)
Output: resources/{run}/truth/
        land.zarr      pft_fraction(year, pft, latitude, longitude) 1 (BL, NL, GS, other),
                       forest_age(year, latitude, longitude) years, land_mask(latitude, longitude)
        fluxes.zarr    GPP, RECO, NEE(time, latitude, longitude) gC m-2 d-1, monthly, NaN over sea
        sites.parquet  site_id, latitude, longitude, elevation, igbp, pft, network, cell_* , years
        extremes.zarr  extreme(time, latitude, longitude) bool weekly, driver / distractor
                       (variable, time, latitude, longitude) bool, coupled(variable) bool
        extremes_cerra.zarr  the same on the CERRA sub-grid (time, y, x) for params.cerra variables
"""

from terraflux.sources.cerra import variables as cerra_variables
from terraflux.synthetic import truth
from terraflux.synthetic.world import World
from terraflux.workflow.atomic import atomic_output
from terraflux.workflow.provenance import from_snakemake
from terraflux.workflow.script import setup_logging

log = setup_logging(snakemake)
provenance = from_snakemake(snakemake)
world = World.load(snakemake.input.world)
cerra = snakemake.params.cerra
variables = cerra_variables(cerra["variables"] + cerra["forecast_variables"], "sources.cerra.variables")
out = snakemake.output
with atomic_output(out.land) as land, atomic_output(out.fluxes) as fluxes, atomic_output(out.sites) as sites:
    with atomic_output(out.extremes) as extremes, atomic_output(out.extremes_cerra) as extremes_cerra:
        truth.write_all(world, land, fluxes, sites, extremes, extremes_cerra, variables, provenance)
log.info("wrote %s", ", ".join(str(p) for p in out))
