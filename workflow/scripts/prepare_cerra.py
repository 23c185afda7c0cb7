"""CERRA monthly GRIB2 files -> weekly statistics store on the native Lambert grid or, with
``prepare.cerra.reproject_crs``, reprojected to another grid (rule prepare_cerra).

Inputs: ``analysis`` and (optional) ``forecast``, one GRIB2 file per month of the period, with ``params.months``
the [year, month] of each. Output ``cerra_weekly.zarr``:

- ``{v}_mean``, ``{v}_std`` (t2m, r2, sp, tcc, al, vsw, tp, ...) (time, y, x): file units; accumulations per
  day (tp kg m-2 d-1);
- ``{v}_mean_clim``, ``{v}_std_clim`` (week_of_year, y, x): as above;
- ``latitude``, ``longitude`` (y, x): degrees; x, y in metres (Lambert conformal) or the target CRS's units;
  the CRS in ``spatial_ref``;
- ``land_mask`` (y, x): points with data.

Output ``daily`` (only when the downscaling pair is ``cerra_daily``; native grid) ``cerra_daily.zarr``: ``{v}``
(time, y, x) daily means, accumulations as the day's total (tp kg m-2 d-1); coordinates and ``land_mask`` as
above.
"""

import terraflux  # noqa: F401  (first: native libraries in a safe order)
from terraflux.prepare.cerra import prepare_cerra
from terraflux.prepare.era5_land import workers_for
from terraflux.prepare.regrid import Target
from terraflux.workflow.provenance import from_snakemake
from terraflux.workflow.script import setup_logging

log = setup_logging(snakemake)  # noqa: F821
sm = snakemake  # noqa: F821
months = [tuple(month) for month in sm.params.months]
files = {month: [path] for month, path in zip(months, sm.input.analysis, strict=True)}
# forecast files (precipitation) only when sources.cerra.forecast_variables is not empty
forecast = list(sm.input.forecast)
for month, path in zip(months[: len(forecast)], forecast, strict=True):
    files[month].append(path)
prepare_cerra(
    files,
    out_path=sm.output.weekly,
    variables=[],
    period=sm.params.period,
    crop=sm.params.cerra["crop"],
    reproject=Target.from_config(sm.params.cerra),
    workers=workers_for(sm.threads),
    plausible=sm.params.plausible,
    provenance=from_snakemake(sm),
    daily_path=sm.output.get("daily"),
)
log.info("CERRA weekly store written")
