"""In-situ carbon-flux sites -> site table and daily / monthly flux tables (rule prepare_insitu).

Inputs: ``sites`` (CarbonSense v1 folder or FLUXNET2015 FULLSET files with sites.csv), ``monthly`` (the
model grid). Outputs (parquet, provenance in the key-value metadata under ``provenance``):

- ``sites.parquet``: site_id, latitude, longitude (degrees), elevation (m), igbp, network, cell_latitude,
  cell_longitude, cell_iy, cell_ix;
- ``insitu_daily.parquet``, ``insitu_monthly.parquet``: site_id, time, GPP, RECO, NEE (gC m-2 d-1),
  coverage (0..1).
"""

import terraflux  # noqa: F401  (first: native libraries in a safe order)
from terraflux.prepare.insitu import prepare_insitu
from terraflux.workflow.provenance import from_snakemake
from terraflux.workflow.script import setup_logging

import xarray as xr

log = setup_logging(snakemake)  # noqa: F821
sm = snakemake  # noqa: F821
with xr.open_zarr(sm.input.monthly) as monthly:
    cell_lat = monthly["latitude"].values
    cell_lon = monthly["longitude"].values
sites = prepare_insitu(
    sm.input.sites,
    fmt=sm.params.insitu_format,
    cell_lat=cell_lat,
    cell_lon=cell_lon,
    sites_path=sm.output.sites,
    daily_path=sm.output.daily,
    monthly_path=sm.output.monthly,
    period=sm.params.period,
    partitioning=sm.params.insitu["partitioning"],
    min_coverage=sm.params.insitu["min_coverage"],
    provenance=from_snakemake(sm),
)
log.info("%d sites prepared", len(sites))
