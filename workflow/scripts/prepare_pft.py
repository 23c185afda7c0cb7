"""Land-cover maps -> PFT fractions per model-grid cell and year (rule prepare_pft).

Inputs: ``files`` (the land-cover zip or PFT NetCDF of each year; years outside the product use the nearest
map), ``monthly`` (ERA5-Land monthly store: the model grid). Output ``pft.zarr``:

| variable | dims | units |
|---|---|---|
| fraction | (year, pft, latitude, longitude), pft in BL, NL, GS, other | 1 (share of land, sums to 1) |
| pft14 | (year, esa_pft, latitude, longitude), the 14 ESA CCI PFTs | 1 (share of valid area) |
| land_fraction | (year, latitude, longitude) | 1 |
"""

import terraflux  # noqa: F401  (first: native libraries in a safe order)
from terraflux.prepare.pft import prepare_pft
from terraflux.workflow.provenance import from_snakemake
from terraflux.workflow.script import setup_logging

import numpy as np
import xarray as xr

log = setup_logging(snakemake)  # noqa: F821
sm = snakemake  # noqa: F821
with xr.open_zarr(sm.input.monthly) as monthly:
    cell_lat = monthly["latitude"].values
    cell_lon = monthly["longitude"].values
sizes = np.abs(np.r_[np.diff(cell_lat), np.diff(cell_lon)])
cell_size = float(sizes.min()) if sizes.size else 0.1
files = dict(zip(sm.params.years, sm.input.files, strict=True))
prepare_pft(
    files,
    out_path=sm.output.pft,
    cell_lat=cell_lat,
    cell_lon=cell_lon,
    cell_size=cell_size,
    product=sm.params.land_cover["product"],
    provenance=from_snakemake(
        sm, extra={"land_cover_map_year": dict(zip(map(str, sm.params.years), sm.params.map_years, strict=True))}
    ),
)
log.info("PFT fractions written for %d years on %d x %d cells", len(files), len(cell_lat), len(cell_lon))
