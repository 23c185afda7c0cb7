"""What every DERE stage script does around its stage function: seed, device, data, resume folder,
checkpoint and metrics JSON (atomic, with provenance and the device recorded).

A stage script is::

    log = setup_logging(snakemake)
    run = StageRun(snakemake, "step2")
    model, pure, fit = stages.step2(run.data, run.cfg, run.ctx, run.load("mix")["mix"])
    run.save_checkpoint({"mix": model.state_dict()})
    run.write_metrics({"fit": stages.fit_summary(fit), ...})
"""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from terraflux.config import config_hash
from terraflux.dere.dataset import DereTensors
from terraflux.dere.stages import Context
from terraflux.train import derive_seed, load_checkpoint, save_checkpoint, seed_everything, select_device
from terraflux.workflow.atomic import atomic_output
from terraflux.workflow.provenance import from_snakemake

LOG = logging.getLogger(__name__)


def clean(obj: Any) -> Any:
    """JSON-safe: NaN/inf -> None, numpy scalars -> Python."""
    if isinstance(obj, dict):
        return {str(k): clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [clean(v) for v in obj]
    if isinstance(obj, (np.floating, float)):
        return float(obj) if math.isfinite(float(obj)) else None
    if isinstance(obj, np.integer):
        return int(obj)
    return obj


def write_json(path: str | Path, payload: dict) -> None:
    with atomic_output(path) as tmp:
        Path(tmp).write_text(json.dumps(clean(payload), indent=1, sort_keys=True))


class StageRun:
    """Set-up and outputs of one DERE stage job (see the module docstring)."""

    def __init__(self, snakemake: Any, stage: str, *, load_data: bool = True) -> None:
        self.snakemake = snakemake
        self.stage = stage
        self.cfg = snakemake.params.dere
        self.seed = derive_seed(snakemake.params.seed, "dere", stage)
        seed_everything(self.seed)
        self.device = select_device(self.cfg.get("train", {}).get("device", "auto"), threads=snakemake.threads)
        self.provenance = from_snakemake(snakemake)
        fingerprint = config_hash({"params": self.provenance["params"], "inputs": self.provenance["inputs"]})
        out = Path(next(iter(snakemake.output)))
        self.ctx = Context(self.device, self.seed, out.parent / ".resume", fingerprint)
        self.data = DereTensors.from_dataset(xr.open_zarr(snakemake.input.dataset, consolidated=False).load()) if load_data else None
        LOG.info("stage %s on %s (seed %d)", stage, self.device.as_dict(), self.seed)

    def load(self, name: str) -> dict:
        return load_checkpoint(getattr(self.snakemake.input, name), map_location="cpu")["state"]

    def save_checkpoint(self, state: dict, path: str | None = None) -> None:
        save_checkpoint(path or self.snakemake.output.checkpoint, {"state": state, "provenance": json.dumps(clean(self.provenance))})

    def write_metrics(self, metrics: dict, path: str | None = None) -> None:
        payload = {"stage": self.stage, "device": self.device.as_dict(), "seed": self.seed, **metrics, "provenance": self.provenance}
        write_json(path or self.snakemake.output.metrics, payload)

    def write_site_predictions(self, preds: dict[str, np.ndarray], path: str | None = None) -> None:
        """preds: model name -> [S, T, K] physical; long table site_id, time, model, split, network, igbp, flux values."""
        d = self.data
        times = pd.DatetimeIndex(d.ds["time"].values)
        frames = []
        for name, pred in preds.items():
            s, t = np.meshgrid(np.arange(pred.shape[0]), np.arange(pred.shape[1]), indexing="ij")
            frame = pd.DataFrame({"site_id": d.site_ids[s.ravel()], "time": times[t.ravel()], "model": name,
                                  "split": d.site_split[s.ravel()], "network": d.site_network[s.ravel()], "igbp": d.site_igbp[s.ravel()]})
            for k, flux in enumerate(d.fluxes):
                frame[flux] = pred[..., k].ravel()
                frame[f"{flux}_observed"] = d.insitu.numpy()[..., k].ravel()
            frames.append(frame)
        table = pd.concat(frames, ignore_index=True)
        table.attrs = {}
        with atomic_output(path or self.snakemake.output.predictions) as tmp:
            import pyarrow as pa
            import pyarrow.parquet as pq

            arrow = pa.Table.from_pandas(table, preserve_index=False)
            arrow = arrow.replace_schema_metadata({**(arrow.schema.metadata or {}), b"provenance": json.dumps(clean(self.provenance)).encode()})
            pq.write_table(arrow, tmp)

    def write_zarr(self, ds: xr.Dataset, path: str) -> None:
        ds.attrs["provenance"] = json.dumps(clean(self.provenance))
        with atomic_output(path) as tmp:
            ds.to_zarr(tmp, zarr_format=3, mode="w", consolidated=False)
