"""Write the ground truth of the synthetic world (read by evaluation only, never by model stages).

Input:  world (resources/{run}/synthetic/world.zarr)
Output: resources/{run}/truth/
        land.zarr      pft_fraction(year, pft, latitude, longitude) 1 (BL, NL, GS, other),
                       forest_age(year, latitude, longitude) years, land_mask(latitude, longitude)
        fluxes.zarr    GPP, RECO, NEE(time, latitude, longitude) gC m-2 d-1, monthly, NaN over sea
        sites.parquet  site_id, latitude, longitude, elevation, igbp, pft, network, cell_* , years
        extremes.zarr  extreme(time, latitude, longitude) bool weekly, driver / distractor
                       (variable, time, latitude, longitude) bool, coupled(variable) bool
"""

from terraflux.synthetic import truth
from terraflux.synthetic.world import World
from terraflux.workflow.atomic import atomic_output
from terraflux.workflow.provenance import from_snakemake
from terraflux.workflow.script import setup_logging

log = setup_logging(snakemake)
provenance = from_snakemake(snakemake)
world = World.load(snakemake.input.world)
out = snakemake.output
with atomic_output(out.land) as land, atomic_output(out.fluxes) as fluxes:
    with atomic_output(out.sites) as sites, atomic_output(out.extremes) as extremes:
        truth.write_all(world, land, fluxes, sites, extremes, provenance)
log.info("wrote %s, %s, %s, %s", out.land, out.fluxes, out.sites, out.extremes)
