"""Draw the latent synthetic world (the one source of every synthetic file and of the ground truth).

Input:  params.world: config subtrees run.seed, region, period (start/end year), synthetic,
        sources.era5_land.variables
Output: resources/{run}/synthetic/world.zarr (zarr, small): arrays on the ERA5-Land grid
        (elevation m, pft_fraction [year, 4, lat, lon], forest_age [year, lat, lon] years, land_mask,
        daily latent weather series [mode, day]), smooth-field parameters, and JSON attributes
        (spec, scalars, tables of events / drivers / distractors / sites, provenance).
"""

from terraflux.outputs import jsonable
from terraflux.synthetic.world import World, WorldSpec
from terraflux.workflow.atomic import atomic_output
from terraflux.workflow.provenance import from_snakemake
from terraflux.workflow.script import setup_logging

log = setup_logging(snakemake)
spec = WorldSpec.from_config(snakemake.params.world)
world = World.create(spec)
log.info(
    "world: %d x %d cells, %d land, %d events, %d distractors, %d sites",
    *world.era5_grid.shape,
    int(world.land_mask.sum()),
    len(world.tables["events"]),
    len(world.tables["distractors"]),
    len(world.tables["sites"]),
)
with atomic_output(snakemake.output.world) as tmp:
    world.save(tmp, attrs={"provenance": jsonable(from_snakemake(snakemake))})
log.info("wrote %s", snakemake.output.world)
