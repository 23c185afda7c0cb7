"""DERE step 5: one CSDI per flux (GPP, RECO, NEE) on in-situ series + drivers: train, score, sample gaps.

Inputs: ``dataset``. Outputs: ``checkpoint`` {"state": {flux: CSDI state dict}}, ``samples`` samples.zarr with
``samples(flux, sample, site, time)`` gC m-2 d-1 (observed months equal the observation), ``metrics`` JSON (per flux
MAE, RMSE, CRPS normalised and raw at hidden observed points of test sites; sampler; time), ``holdout`` parquet:
the samples at those hidden points, long table site_id, time, variable, observation, sample, value (gC m-2 d-1).
"""

import terraflux  # noqa: F401

import time

import numpy as np
import pandas as pd
import xarray as xr

from terraflux.csdi import impute
from terraflux.dere.io import StageRun
from terraflux.dere.stages import fit_summary
from terraflux.errors import ConfigError
from terraflux.train import derive_seed, make_generator
from terraflux.workflow.atomic import atomic_output
from terraflux.workflow.script import setup_logging

log = setup_logging(snakemake)  # noqa: F821
run = StageRun(snakemake, "step5")  # noqa: F821
data, cfg = run.data, run.cfg["csdi"]
features = [str(f) for f in data.ds["feature"].values]
unknown = [f for f in cfg["drivers"] if f not in features]
if unknown:
    raise ConfigError(f"dere.csdi.drivers {unknown} are not dataset features; choose from {features}")
chosen = [features.index(f) for f in cfg["drivers"]] if cfg["drivers"] else list(range(len(features)))
drivers = data.x[data.site_cell][..., chosen]  # (S, L, F')
train_idx, val_idx, test_idx = (data.sites(s) for s in ("train", "val", "test"))
states, scores, all_samples, holdout = {}, {}, [], []
times = pd.DatetimeIndex(data.ds["time"].values)
for k, flux in enumerate(data.fluxes):
    mean, std = float(data.insitu_mean[k]), float(data.insitu_std[k])
    x, observed = impute.series(data.insitu[..., k], mean, std, drivers)
    model, fit = impute.train(x, observed, train_idx, val_idx, cfg, run.cfg["train"], data.months_per_year, device=run.device,
                              seed=derive_seed(run.seed, flux), resume_path=run.ctx.resume_dir / f"csdi_{flux}.pt", fingerprint=run.ctx.fingerprint)
    started = time.perf_counter()
    scores[flux], held, hidden = impute.evaluate(model, x, observed, test_idx, cfg, data.months_per_year, mean, std, derive_seed(run.seed, flux))
    b, t = np.nonzero(hidden.numpy())
    values = held.numpy()[:, b, t]  # (N, points)
    obs_phys = data.insitu[..., k].numpy()[test_idx.numpy()[b], t]
    for n in range(values.shape[0]):
        holdout.append(pd.DataFrame({"site_id": data.site_ids[test_idx.numpy()[b]], "time": times[t], "variable": flux,
                                     "observation": obs_phys, "sample": n, "value": values[n]}))
    scores[flux]["sampling_seconds"] = time.perf_counter() - started
    scores[flux]["fit"] = fit_summary(fit)
    samples = impute.impute(model, x, observed, cfg, make_generator(derive_seed(run.seed, flux, "impute")))
    all_samples.append((samples * std + mean).numpy())
    states[flux] = model.state_dict()
    log.info("CSDI %s: %s", flux, {k2: v for k2, v in scores[flux].items() if k2 != "fit"})
run.save_checkpoint(states)
ds = xr.Dataset({"samples": (("flux", "sample", "site", "time"), np.stack(all_samples).astype(np.float32), {"units": "gC m-2 d-1"})},
                coords={"flux": data.fluxes, "site": data.site_ids, "time": data.ds["time"].values})
run.write_zarr(ds, snakemake.output.samples)  # noqa: F821
with atomic_output(snakemake.output.holdout) as tmp:  # noqa: F821
    pd.concat(holdout, ignore_index=True).to_parquet(tmp, index=False)
run.write_metrics({"scores": scores, "sampler": cfg["sampler"], "ddim_steps": cfg["ddim_steps"], "ddim_eta": cfg["ddim_eta"], "n_samples": cfg["n_samples"]})
