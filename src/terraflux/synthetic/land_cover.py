"""ESA-CCI / C3S land cover from the synthetic world: the class map of each year, written by
:mod:`terraflux.sources.land_cover.write` as the CDS zip of an area request over the region.

The class map is the world's (:func:`terraflux.synthetic.land.fine_classes`), cut to the pixels whose centres
lie inside the region; the observation counts are seeded random numbers.
"""

from __future__ import annotations

import uuid
from dataclasses import asdict
from pathlib import Path

from terraflux.sources.formats import cds
from terraflux.sources.land_cover import write
from terraflux.synthetic.fields import stage_seed
from terraflux.synthetic.grids import land_cover_subset
from terraflux.synthetic.land import fine_classes

import numpy as np


def write_zip(path: str | Path, world, year: int, tmpdir: Path) -> None:
    """The CDS zip of the year over the region (its NetCDF written in ``tmpdir`` first)."""
    region = world.spec.region
    rows, cols = land_cover_subset(world.fine_grid, region)
    classes = fine_classes(world, year)[rows, cols]
    rng = np.random.default_rng(stage_seed(world.spec.seed, "land_cover", year))
    write.lccs_zip(
        path,
        year,
        cds.area(asdict(region)),
        tmpdir,
        lat=world.fine_grid.lat[rows],
        lon=world.fine_grid.lon[cols],
        classes=classes,
        observation_count=rng.integers(2, 40, size=classes.shape, dtype=np.uint16),
        tracking_id=str(uuid.UUID(int=stage_seed(world.spec.seed, "land_cover", "tracking", year) << 64 | year)),
        creation_date=f"{year + 1}0518T101540Z",
    )
