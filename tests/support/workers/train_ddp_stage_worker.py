"""Worker for tests/test_train_ddp_stage.py: one real DERE stage (``stages.step3a``, the PFT model) trained by
1 process or by N data-parallel processes (torchrun-style RANK/WORLD_SIZE/MASTER_* variables, gloo).

Usage: python train_ddp_stage_worker.py DATASET.zarr OUT.pt RESUME_DIR CONFIG.json
Rank 0 saves {"state", "fit" (FitResult.as_dict()), "pred" (the model's fractions of every cell, [C, A, Y, P]),
"world_size", "seconds" (wall time of the stage)} to OUT.pt.
"""

import json
import sys
import time
from pathlib import Path

import terraflux  # noqa: F401  (native libraries in a safe order)
import torch
import xarray as xr

from terraflux.dere import stages
from terraflux.dere.dataset import DereTensors
from terraflux.train import distributed, seed_everything, select_device


def main(dataset: str, out: str, resume_dir: str, config: str) -> None:
    cfg = json.loads(Path(config).read_text())
    seed_everything(5)
    data = DereTensors.from_dataset(xr.open_zarr(dataset, consolidated=False).load())
    with distributed.session() as dist:
        ctx = stages.Context(select_device("cpu", threads=1), 5, Path(resume_dir), "ddp-test", dist)
        started = time.perf_counter()
        model, fit = stages.step3a(data, cfg, ctx)
        seconds = time.perf_counter() - started
        with torch.no_grad():  # the trained model's PFT fractions of every cell [C, A, Y, P] (eval mode)
            pred = stages.pft_per_age(model.eval(), data, torch.arange(data.x.shape[0]), ctx)
        if dist.is_main:
            torch.save({"state": model.state_dict(), "fit": fit.as_dict(), "world_size": dist.world_size, "pred": pred,
                        "seconds": seconds}, out)


if __name__ == "__main__":
    main(*sys.argv[1:5])
