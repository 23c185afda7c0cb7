"""Run terraflux's bottom-up process model on the prepared monthly drivers (or convert a user-supplied file).

Inputs: ``drivers`` era5_land_monthly.zarr (t2m K, ssrd J m-2 d-1, vpd hPa, swvl1 m3 m-3, stl1 K), ``pft`` pft.zarr
(fraction(year, pft, latitude, longitude)), ``parameters`` (versioned table), optional ``external`` file.
Output: ``process`` process_model.zarr:

| variable | dims | units |
|---|---|---|
| GPP, NPP, Ra, Rh, RECO, NEE | (pft_group, age_class, time, latitude, longitude) | gC m-2 d-1 |
| LAI / fAPAR / Cveg, Csoil | same | m2 m-2 / 1 / gC m-2 |
| pft_fraction | (age_class, year, pft_group, latitude, longitude) | 1 |
| age_weight | (age_class, latitude, longitude) | 1 |
| land_mask | (latitude, longitude) | bool |
"""

import terraflux  # noqa: F401  (first: native-library order)
from terraflux import outputs
from terraflux.errors import DataError
from terraflux.simulate.process_model import (
    PARAMETER_FILE,
    age_classes,
    convert_external,
    load_parameters,
    physics_residuals,
    run_process_model,
)
from terraflux.workflow.provenance import from_snakemake
from terraflux.workflow.script import setup_logging

import xarray as xr

log = setup_logging(snakemake)
sm = snakemake
spec = sm.params.simulate
ages = age_classes(spec["age_class_edges"])
if spec["external_file"]:
    path = spec["external_file"]
    try:
        source = (
            xr.open_zarr(path) if str(path).rstrip("/").endswith(".zarr") else xr.open_dataset(path, engine="h5netcdf")
        )
    except (OSError, ValueError, KeyError) as error:
        raise DataError(
            f"simulate.external_file {path} cannot be opened ({error}); give a zarr store or NetCDF file"
        ) from error
    out = convert_external(source.load(), ages)
    version = "external"
else:
    params = load_parameters(spec["parameters_file"] or PARAMETER_FILE)
    drivers = xr.open_zarr(sm.input.drivers).load()
    pft = xr.open_zarr(sm.input.pft)["fraction"].load()
    out = run_process_model(drivers, pft, ages, params)
    version = params.version
residuals = physics_residuals(out)
log.info("process model %s: %s, residuals %s", version, dict(out.sizes), residuals)
provenance = from_snakemake(sm, extra={"parameters_version": version})
outputs.write_zarr(sm.output.process, out.chunk({"time": -1, "latitude": 16, "longitude": 16}), provenance)
summary = {
    "stage": "simulate_process_model",
    "parameters_version": version,
    "physics_residuals_max_abs": residuals,
    "mean": {v: float(out[v].mean()) for v in ("GPP", "RECO", "NEE")},
}
outputs.write_json(sm.output.metrics, summary, provenance)
