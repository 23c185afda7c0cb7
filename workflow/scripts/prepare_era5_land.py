"""ERA5-Land monthly raw files -> daily, weekly and monthly prepared stores (rule prepare_era5_land).

Inputs: ``files`` (one per month of the period: hourly NetCDF/zip/GRIB, or daily-statistics zips), with
``params.months`` the [year, month] of each.
Outputs (zarr, see docs/data-layout.md):

- ``era5_land_daily.zarr`` (time, latitude, longitude): t2m, d2m, skt, stl1 (K), tp, e (m d-1),
  ssrd (J m-2 d-1), sp (Pa), swvl1 (m3 m-3), fal (1), vpd (hPa), land_mask;
- ``era5_land_weekly.zarr``: ``{v}_mean``, ``{v}_std`` (time, ...) and ``{v}_mean_clim``, ``{v}_std_clim``
  (week_of_year, ...), daily units;
- ``era5_land_monthly.zarr`` (time, latitude, longitude): the daily names as block means on the model grid,
  land_mask; daily units.
"""

import terraflux  # noqa: F401  (first: native libraries in a safe order)
from terraflux.prepare.era5_land import prepare_era5_land, workers_for
from terraflux.workflow.provenance import from_snakemake
from terraflux.workflow.script import setup_logging

log = setup_logging(snakemake)  # noqa: F821
sm = snakemake  # noqa: F821
era5 = sm.params.era5_land
period = sm.params.period
files = {(year, month): [path] for (year, month), path in zip(sm.params.months, sm.input.files, strict=True)}
summary = prepare_era5_land(
    files,
    daily_path=sm.output.daily,
    weekly_path=sm.output.weekly,
    monthly_path=sm.output.monthly,
    variables=era5["variables"],
    region=sm.params.region,
    period=period,
    factor=sm.params.prepare["model_grid_factor"],
    product=era5["product"],
    hours=era5["hours"],
    workers=workers_for(sm.threads),
    memory_mb=sm.resources.mem_mb,  # fewer workers if their months would not fit
    strict=sm.params.prepare["strict_months"],
    plausible=sm.params.plausible,
    provenance=from_snakemake(sm),
)
log.info("ERA5-Land prepared: %s", summary)
