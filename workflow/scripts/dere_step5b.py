"""DERE step 5b: expanded in-situ labels from the CSDI samples.

Inputs: ``dataset``, ``samples`` (step-5 samples.zarr). Output: ``labels`` labels.zarr with ``label(site, time, flux)``
(observation where observed, else the samples' median or mean, config ``dere.csdi.point``; gC m-2 d-1),
``label_std`` (0 at observed months), ``imputed`` (bool); ``metrics`` JSON (counts, mean std per flux).
"""

import terraflux  # noqa: F401
from terraflux.csdi.impute import expanded_labels
from terraflux.dere.io import StageRun
from terraflux.workflow.script import setup_logging

import numpy as np
import xarray as xr

log = setup_logging(snakemake)
run = StageRun(snakemake, "step5b")
samples = xr.open_zarr(snakemake.input.samples, consolidated=False)["samples"].load()
obs = run.data.insitu.numpy()
out = [
    expanded_labels(obs[..., k], samples.sel(flux=f).values, run.cfg["csdi"]["point"])
    for k, f in enumerate(run.data.fluxes)
]
stack = lambda i: np.stack([o[i] for o in out], -1)  # noqa: E731
ds = xr.Dataset(
    {
        "label": (("site", "time", "flux"), stack(0), {"units": "gC m-2 d-1"}),
        "label_std": (("site", "time", "flux"), stack(1), {"units": "gC m-2 d-1"}),
        "imputed": (("site", "time", "flux"), stack(2)),
    },
    coords={"site": run.data.site_ids, "time": run.data.ds["time"].values, "flux": run.data.fluxes},
)
run.write_zarr(ds, snakemake.output.labels)
run.write_metrics(
    {
        "imputed_points": {f: int(out[k][2].sum()) for k, f in enumerate(run.data.fluxes)},
        "mean_std_at_gaps": {f: float(out[k][1][out[k][2]].mean()) for k, f in enumerate(run.data.fluxes)},
    }
)
