"""What every DERE stage script does around its stage function: logging, seed, device, data, resume folder,
and the outputs (checkpoint, site predictions, stores, metrics JSON) written through :mod:`terraflux.outputs`
with the job's provenance.

A training stage script is::

    def train(run):
        return stages.step2(run.data, run.cfg, run.ctx, run.load("mix")["mix"])

    def write(run, result):
        run.save_checkpoint({"mix": result.model.state_dict()})
        run.write_metrics({"fit": result.fit.as_dict(), ...})

    run_training_stage(snakemake, "step2", train, write)
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import cached_property
from pathlib import Path
from typing import Any, TypeVar

from terraflux import outputs
from terraflux.config import config_hash
from terraflux.dere.dataset import DereTensors
from terraflux.dere.predict import (
    carbon_balance_residual,
    held_out_site_scores,
    pooled_held_out,
    seed_and_fold_spread,
)
from terraflux.dere.stages import Context, InSituResult
from terraflux.train import DeviceInfo, derive_seed, launch, seed_everything, select_device
from terraflux.workflow.provenance import from_snakemake
from terraflux.workflow.script import setup_logging

import numpy as np
import pandas as pd
import xarray as xr

LOG = logging.getLogger(__name__)
Result = TypeVar("Result")


class StageRun:
    """Set-up and outputs of one DERE stage job (see the module docstring).

    ``cfg`` is the rule's ``params.dere``; the device (config ``dere.train.device``) is chosen when a stage
    first asks for it, so stages without a ``train`` section (step 5b) need none.
    """

    def __init__(self, snakemake: Any, stage: str, dist: launch.Distributed | None = None) -> None:
        self.snakemake = snakemake
        self.stage = stage
        self.cfg = snakemake.params.dere
        self.seed = derive_seed(snakemake.params.seed, "dere", stage)
        seed_everything(self.seed)
        self.dist = dist or launch.Distributed()
        self.provenance = from_snakemake(snakemake)
        self.data = DereTensors.from_dataset(xr.open_zarr(snakemake.input.dataset, consolidated=False).load())

    @cached_property
    def device(self) -> DeviceInfo:
        device = select_device(self.cfg["train"]["device"], threads=self.snakemake.threads)
        LOG.info("stage %s on %s (seed %d)", self.stage, device.as_dict(), self.seed)
        return device

    @cached_property
    def ctx(self) -> Context:
        """The stages' context: device, seed, resume folder beside the outputs, fingerprint of params and inputs."""
        fingerprint = config_hash({"params": self.provenance["params"], "inputs": self.provenance["inputs"]})
        resume_dir = Path(next(iter(self.snakemake.output))).parent / ".resume"
        return Context(self.device, self.seed, resume_dir, fingerprint, self.dist)

    @property
    def seeds(self) -> int:
        """Training seeds of the in-situ stages (config ``dere.train.seeds``)."""
        return self.cfg["train"]["seeds"]

    @property
    def folds(self) -> list[int]:
        """The folds an in-situ stage trains (``params.folds``): ``all`` (k-fold over sites) or ``first`` (fold 0)."""
        return list(range(self.data.n_folds)) if self.snakemake.params.folds == "all" else [0]

    def load(self, name: str) -> dict:
        """The state dicts of the checkpoint given as input ``name``."""
        return outputs.load_checkpoint(getattr(self.snakemake.input, name), map_location="cpu")["state"]

    def save_checkpoint(self, state: dict) -> None:
        outputs.save_checkpoint(self.snakemake.output.checkpoint, {"state": state}, self.provenance)

    def write_metrics(self, metrics: dict) -> None:
        """The metrics JSON: stage, seed, the device if the stage used one, ``metrics``, provenance."""
        used = {"device": self.device.as_dict()} if "device" in self.__dict__ else {}
        outputs.write_json(
            self.snakemake.output.metrics, {"stage": self.stage, "seed": self.seed, **used, **metrics}, self.provenance
        )

    def write_zarr(self, ds: xr.Dataset, path: str) -> None:
        outputs.write_zarr(path, ds, self.provenance)

    def write_site_predictions(
        self, preds: dict[str, np.ndarray], path: str, data: DereTensors | None = None, fold: np.ndarray | None = None
    ) -> None:
        """preds: model name -> [S, T, K] physical; long table site_id, time, model, split (of ``data``, default the
        stage's data), network, igbp, flux values and the observations (``<flux>_observed``); with ``fold`` [S]
        also the column ``fold`` and only the sites whose fold is >= 0."""
        d = data if data is not None else self.data
        sites = np.arange(len(d.site_ids)) if fold is None else np.nonzero(fold >= 0)[0]
        times = pd.DatetimeIndex(d.ds["time"].values)
        frames = []
        for name, pred in preds.items():
            s, t = np.meshgrid(sites, np.arange(pred.shape[1]), indexing="ij")
            s, t = s.ravel(), t.ravel()
            frame = pd.DataFrame(
                {
                    "site_id": d.site_ids[s],
                    "time": times[t],
                    "model": name,
                    "split": d.site_split[s],
                    "network": d.site_network[s],
                    "igbp": d.site_igbp[s],
                }
            )
            if fold is not None:
                frame["fold"] = fold[s]
            for k, flux in enumerate(d.fluxes):
                frame[flux] = pred[s, t, k]
                frame[f"{flux}_observed"] = d.insitu.numpy()[s, t, k]
            frames.append(frame)
        table = pd.concat(frames, ignore_index=True)
        table.attrs = {}
        outputs.write_parquet(path, table, self.provenance)

    def write_in_situ(
        self, model: str, results: dict[int, dict[int, dict[str, InSituResult] | InSituResult]], metrics: dict
    ) -> None:
        """Outputs of in-situ models, ``results`` per training seed (:func:`~terraflux.dere.stages.over_seeds`), then
        per fold (fold 0 among them): steps 4/6 give one result per network (``all``: trained on every network;
        other folds only ``all``), Baseline and KGML one result. Writes seed 0's fold-0 checkpoint ({network: state
        dicts} or the state dicts) and site predictions as ``model`` (the maps and the label-set comparison use
        fold 0), for steps 4/6 also every network model's as ``<model>_<network>`` (output
        ``network_predictions``); seed 0's pooled held-out predictions (output ``held_out``: each site once, by the
        fold that tested it); and the metrics: ``metrics``, ``folds``, ``seeds``, ``scores`` (seed 0's pooled
        held-out sites: all, per network, per IGBP), ``fold_scores`` (overall, per seed and fold), ``fold_spread``
        (mean and std over folds of the seed-averaged scores), ``seed_spread`` (mean and std over seeds of the fold
        means), the fits (per network for steps 4/6, per seed and fold) and fold 0's carbon-balance residual."""
        out = self.snakemake.output
        per_network = isinstance(results[0][0], dict)
        by_seed = {s: {k: r if per_network else {"all": r} for k, r in folds.items()} for s, folds in results.items()}
        by_fold = by_seed[0]
        main = by_fold[0]["all"]
        fold_scores = {
            s: {k: held_out_site_scores(r["all"].predictions, self.data.fold(k))["all"] for k, r in folds.items()}
            for s, folds in by_seed.items()
        }
        over_folds, over_seeds = seed_and_fold_spread(fold_scores)
        pooled, fold, pooled_data = pooled_held_out({k: r["all"].predictions for k, r in by_fold.items()}, self.data)
        metrics = {
            **metrics,
            "folds": sorted(by_fold),
            "seeds": sorted(by_seed),
            "scores": held_out_site_scores(pooled, pooled_data),
            "fold_scores": fold_scores,
            "fold_spread": over_folds,
            "seed_spread": over_seeds,
            "fold_fits": {s: {k: r["all"].fit.as_dict() for k, r in folds.items()} for s, folds in by_seed.items()},
        }
        if per_network:
            scores = {n: held_out_site_scores(r.predictions, self.data, n) for n, r in by_fold[0].items()}
            self.save_checkpoint({n: r.state for n, r in by_fold[0].items()})
            self.write_site_predictions(
                {f"{model}_{n}": r.predictions for n, r in by_fold[0].items()}, out.network_predictions
            )
            metrics["networks"] = {n: {"scores": scores[n], "fit": r.fit.as_dict()} for n, r in by_fold[0].items()}
        else:
            self.save_checkpoint(main.state)
            metrics["fit"] = main.fit.as_dict()
            if main.pretrain is not None:
                metrics["pretrain"] = main.pretrain.as_dict()
        self.write_site_predictions({model: main.predictions}, out.predictions)
        self.write_site_predictions({model: pooled}, out.held_out, data=pooled_data, fold=fold)
        metrics["physics_residual_RECO-GPP-NEE_mean_abs"] = carbon_balance_residual(main.predictions, self.data.fluxes)
        LOG.info(
            "%s NEE at held-out sites (folds %s pooled): %s", model, metrics["folds"], metrics["scores"]["all"]["NEE"]
        )
        self.write_metrics(metrics)


def run_training_stage(
    snakemake: Any, stage: str, train: Callable[[StageRun], Result], write: Callable[[StageRun, Result], None]
) -> None:
    """Run one DERE training stage as its rule's script: log to the rule's log (rank N > 0 to ``<log>.rank<N>``),
    start the rule's data-parallel processes (config ``compute.train.tasks``/``gpus``, resource ``tasks``:
    :func:`~terraflux.train.launch.start` re-executes the script as N srun tasks), ``train`` on every
    process, ``write`` the outputs on rank 0."""
    setup_logging(snakemake, log_path=launch.rank_log(snakemake.log[0]))
    launch.start(snakemake)
    with launch.session() as dist:
        run = StageRun(snakemake, stage, dist)
        result = train(run)
        if dist.is_main:
            write(run, result)
