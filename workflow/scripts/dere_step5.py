"""DERE step 5: one CSDI per flux (GPP, RECO, NEE) on in-situ series + drivers: train, score, sample the gaps.

Inputs: ``dataset``. Outputs: ``checkpoint`` {"state": {flux: CSDI state dict}}, ``samples`` samples.zarr with
``samples(flux, sample, site, time)`` gC m-2 d-1 (observed months equal the observation), ``holdout`` parquet:
the samples at hidden observed points of the test sites, long table site_id, time, variable, observation, sample,
value (gC m-2 d-1), and ``metrics`` JSON: per flux the scores of those samples
(:func:`terraflux.csdi.impute.holdout_scores`: n, MAE, RMSE, bias, R2, NSE of the point estimate, CRPS exact and by
quantiles in gC m-2 d-1, normalised quantile CRPS (1); the same point metrics of the seasonal-cycle and linear
baselines) and the fit; the sampler.
"""

import time

import terraflux  # noqa: F401
from terraflux import outputs
from terraflux.csdi import impute
from terraflux.dere import step5
from terraflux.dere.io import StageRun
from terraflux.errors import ConfigError
from terraflux.train import derive_seed, make_generator
from terraflux.workflow.script import setup_logging

import numpy as np
import pandas as pd
import xarray as xr

log = setup_logging(snakemake)
run = StageRun(snakemake, "step5")
data, cfg = run.data, run.cfg["csdi"]
features = [str(f) for f in data.ds["feature"].values]
unknown = [f for f in cfg["drivers"] if f not in features]
if unknown:
    raise ConfigError(f"dere.csdi.drivers {unknown} are not dataset features; choose from {features}")
chosen = [features.index(f) for f in cfg["drivers"]] if cfg["drivers"] else list(range(len(features)))
drivers = data.x[data.site_cell][..., chosen]  # (S, L, F')
test_idx = data.sites("test")
states, scores, all_samples, holdout = {}, {}, [], []
times = pd.DatetimeIndex(data.ds["time"].values)
for k, flux in enumerate(data.fluxes):
    fitted = step5.fit(data, run.cfg, run.ctx, flux, drivers)
    model, fit, x, observed, mean, std = fitted.model, fitted.fit, fitted.x, fitted.observed, fitted.mean, fitted.std
    started = time.perf_counter()
    held, hidden = impute.hold_out(
        model, x, observed, test_idx, cfg, data.months_per_year, mean, std, derive_seed(run.seed, flux)
    )
    held, hidden = held.numpy(), hidden.numpy()
    observation = data.insitu[test_idx, :, k].numpy()  # (test sites, L)
    scores[flux] = {
        **impute.holdout_scores(held, observation, hidden, data.months_per_year, cfg["point"]),
        "fit": fit.as_dict(),
    }
    b, t = np.nonzero(hidden)
    values = held[:, b, t]  # (N, points)
    for n in range(values.shape[0]):
        holdout.append(
            pd.DataFrame(
                {
                    "site_id": data.site_ids[test_idx.numpy()[b]],
                    "time": times[t],
                    "variable": flux,
                    "observation": observation[b, t],
                    "sample": n,
                    "value": values[n],
                }
            )
        )
    log.info(
        "CSDI %s: hold-out sampled in %.1f s; %s",
        flux,
        time.perf_counter() - started,
        {k2: v for k2, v in scores[flux].items() if k2 != "fit"},
    )
    samples = impute.impute(model, x, observed, cfg, make_generator(derive_seed(run.seed, flux, "impute")))
    all_samples.append((samples * std + mean).numpy())
    states[flux] = model.state_dict()
run.save_checkpoint(states)
ds = xr.Dataset(
    {
        "samples": (
            ("flux", "sample", "site", "time"),
            np.stack(all_samples).astype(np.float32),
            {"units": "gC m-2 d-1"},
        )
    },
    coords={"flux": data.fluxes, "site": data.site_ids, "time": data.ds["time"].values},
)
run.write_zarr(ds, snakemake.output.samples)
outputs.write_parquet(snakemake.output.holdout, pd.concat(holdout, ignore_index=True), run.provenance)
run.write_metrics(
    {
        "scores": scores,
        "sampler": cfg["sampler"],
        "ddim_steps": cfg["ddim_steps"],
        "ddim_eta": cfg["ddim_eta"],
        "n_samples": cfg["n_samples"],
    }
)
