"""Worker for tests/test_train_ddp_stage.py: IDE training (``terraflux.ide.stages.train``, cnn3d backbone) on
a tiny benchmark dataset by 1 process or by N data-parallel processes (RANK/WORLD_SIZE/MASTER_* variables, gloo).

Usage: python train_ddp_ide_worker.py DATASET.zarr CHECKPOINT.pt
Rank 0 writes CHECKPOINT.pt (the stage's own checkpoint: weights, summary with the fit history) and
CHECKPOINT.pt.json: {"world_size", "seconds", "fit", "ranks": the sha256 of every rank's trained weights}.
"""

import hashlib
import json
import sys
import time
from pathlib import Path

import terraflux  # noqa: F401  (native libraries in a safe order)
import terraflux.ide.stages as stages
from terraflux.train import launch

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # tests/, for the support package
from support.ide_config import SMALL_MODEL, model_params, train_settings  # noqa: E402

built = []  # the model train() builds, to read every rank's weights (only rank 0 writes the checkpoint)


class RecordedModel(stages.IDEModel):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        built.append(self)


def main(dataset: str, checkpoint: str) -> None:
    stages.IDEModel = RecordedModel
    settings = train_settings(
        crop=8, batch_size=4, epochs=2, steps_per_epoch=3, warmup_epochs=1, val_windows=2, checkpoint_every=2
    )
    with launch.session() as dist:
        started = time.perf_counter()
        summary = stages.train(
            dataset,
            checkpoint,
            backbone="cnn3d",
            codebook="lfq",
            weeks=4,
            model_params=model_params(**SMALL_MODEL),
            settings=settings,
            seed=7,
            threads=1,
            fingerprint="ddp-test",
            tile=0,
            dist=dist,
        )
        seconds = time.perf_counter() - started
        flat = torch.cat([v.detach().flatten().double() for v in built[-1].state_dict().values()])
        every = [torch.zeros_like(flat) for _ in range(dist.world_size)]
        if dist.enabled:
            torch.distributed.all_gather(every, flat)
        else:
            every = [flat]
        if dist.is_main:
            digests = [hashlib.sha256(w.numpy().tobytes()).hexdigest() for w in every]
            info = {"world_size": dist.world_size, "seconds": seconds, "fit": summary["fit"], "ranks": digests}
            Path(f"{checkpoint}.json").write_text(json.dumps(info))


if __name__ == "__main__":
    main(*sys.argv[1:3])
