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
from terraflux.dere.predict import carbon_balance_residual, held_out_site_scores
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

    def write_site_predictions(self, preds: dict[str, np.ndarray], path: str) -> None:
        """preds: model name -> [S, T, K] physical; long table site_id, time, model, split, network, igbp, flux values
        and the observations (``<flux>_observed``)."""
        d = self.data
        times = pd.DatetimeIndex(d.ds["time"].values)
        frames = []
        for name, pred in preds.items():
            s, t = np.meshgrid(np.arange(pred.shape[0]), np.arange(pred.shape[1]), indexing="ij")
            frame = pd.DataFrame(
                {
                    "site_id": d.site_ids[s.ravel()],
                    "time": times[t.ravel()],
                    "model": name,
                    "split": d.site_split[s.ravel()],
                    "network": d.site_network[s.ravel()],
                    "igbp": d.site_igbp[s.ravel()],
                }
            )
            for k, flux in enumerate(d.fluxes):
                frame[flux] = pred[..., k].ravel()
                frame[f"{flux}_observed"] = d.insitu.numpy()[..., k].ravel()
            frames.append(frame)
        table = pd.concat(frames, ignore_index=True)
        table.attrs = {}
        outputs.write_parquet(path, table, self.provenance)

    def write_in_situ(self, model: str, result: dict[str, InSituResult] | InSituResult, metrics: dict) -> None:
        """Outputs of in-situ models: steps 4/6 give one result per network (``all``: trained on every network),
        Baseline and KGML one result. Writes the checkpoint ({network: state dicts} or the state dicts), the
        (``all``) model's site predictions as ``model``, for steps 4/6 also every network model's as
        ``<model>_<network>`` (output ``network_predictions``), and the metrics: ``metrics``, the held-out
        site scores and fits (per network for steps 4/6), and the carbon-balance residual."""
        out = self.snakemake.output
        per_network = isinstance(result, dict)
        results = result if per_network else {"all": result}
        main = results["all"]
        scores = {n: held_out_site_scores(r.predictions, self.data, n) for n, r in results.items()}
        metrics = {**metrics, "scores": scores["all"]}
        if per_network:
            self.save_checkpoint({n: r.state for n, r in results.items()})
            self.write_site_predictions(
                {f"{model}_{n}": r.predictions for n, r in results.items()}, out.network_predictions
            )
            metrics["networks"] = {n: {"scores": scores[n], "fit": r.fit.as_dict()} for n, r in results.items()}
        else:
            self.save_checkpoint(main.state)
            metrics["fit"] = main.fit.as_dict()
            if main.pretrain is not None:
                metrics["pretrain"] = main.pretrain.as_dict()
        self.write_site_predictions({model: main.predictions}, out.predictions)
        metrics["physics_residual_RECO-GPP-NEE_mean_abs"] = carbon_balance_residual(main.predictions, self.data.fluxes)
        LOG.info("%s NEE at held-out sites: %s", model, scores["all"]["all"]["NEE"])
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
