"""Worker for tests/test_train_ddp_stage.py: one real DERE stage (``stages.step3a``, the PFT model) trained in
float64 by 1 process or by N data-parallel processes (torchrun-style RANK/WORLD_SIZE/MASTER_* variables, gloo).

Float64: the dataset's tensors are converted and the model is built with float64 weights
(``torch.set_default_dtype``), so that one process and N differ by float64 rounding only.

Usage: python train_ddp_stage_worker.py DATASET.zarr OUT.pt RESUME_DIR CONFIG.json
Rank 0 saves {"state", "fit" (FitResult.as_dict()), "pred" (the model's fractions of every cell, [C, A, Y, P]),
"world_size", "ranks" (every rank's weights flattened), "seconds" (wall time of the stage)} to OUT.pt.
"""

import dataclasses
import json
import sys
import time
from pathlib import Path

import terraflux  # noqa: F401  (native libraries in a safe order)
from terraflux.dere import stages
from terraflux.dere.dataset import DereTensors
from terraflux.dere.models import pft_per_age
from terraflux.train import launch, seed_everything, select_device

import torch
import xarray as xr


def float64(data: DereTensors) -> DereTensors:
    """The same tensors in float64 (the dataset stores float32)."""
    changes = {
        f.name: getattr(data, f.name).double()
        for f in dataclasses.fields(data)
        if torch.is_tensor(getattr(data, f.name)) and getattr(data, f.name).is_floating_point()
    }
    return dataclasses.replace(data, **changes)


def main(dataset: str, out: str, resume_dir: str, config: str) -> None:
    cfg = json.loads(Path(config).read_text())
    torch.set_default_dtype(torch.float64)
    seed_everything(5)
    data = float64(DereTensors.from_dataset(xr.open_zarr(dataset, consolidated=False).load()))
    with launch.session() as dist:
        ctx = stages.Context(select_device("cpu", threads=1), 5, Path(resume_dir), "ddp-test", dist)
        started = time.perf_counter()
        result = stages.step3a(data, cfg, ctx)
        model, fit = result.model, result.fit
        seconds = time.perf_counter() - started
        with torch.no_grad():  # the trained model's PFT fractions of every cell [C, A, Y, P] (eval mode)
            pred = pft_per_age(model.eval(), data, torch.arange(data.x.shape[0]), ctx.device.device)
        flat = torch.cat([v.detach().double().flatten() for v in model.state_dict().values()])
        ranks = [torch.zeros_like(flat) for _ in range(dist.world_size)]
        if dist.enabled:
            torch.distributed.all_gather(ranks, flat)
        else:
            ranks = [flat]
        if dist.is_main:
            torch.save(
                {
                    "state": model.state_dict(),
                    "fit": fit.as_dict(),
                    "world_size": dist.world_size,
                    "pred": pred,
                    "ranks": ranks,
                    "seconds": seconds,
                },
                out,
            )


if __name__ == "__main__":
    main(*sys.argv[1:5])
