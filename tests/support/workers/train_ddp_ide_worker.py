"""Worker for tests/test_train_ddp_stage.py: IDE training (``terraflux.ide.stages.train``, cnn3d backbone) on
a tiny benchmark dataset by 1 process or by N data-parallel processes (RANK/WORLD_SIZE/MASTER_* variables, gloo).

Usage: python train_ddp_ide_worker.py DATASET.zarr CHECKPOINT.pt
Rank 0 writes CHECKPOINT.pt (the stage's own checkpoint: weights, summary with the fit history); every rank
returns the summary, rank 0 adds {"world_size", "seconds"} to CHECKPOINT.pt.json.
"""

import json
import sys
import time
from pathlib import Path

import terraflux  # noqa: F401  (native libraries in a safe order)

from terraflux.ide.stages import TrainSettings, train
from terraflux.train import distributed


def main(dataset: str, checkpoint: str) -> None:
    settings = TrainSettings(crop=8, batch_size=4, epochs=2, steps_per_epoch=3, warmup_epochs=1, val_windows=2, checkpoint_every=2)
    small = {"hidden": 4, "features": 4, "classifier_hidden": 4, "cnn_blocks": 1}
    with distributed.session() as dist:
        started = time.perf_counter()
        summary = train(dataset, checkpoint, backbone="cnn3d", weeks=4, model_params=small, settings=settings, seed=7, threads=1,
                        fingerprint="ddp-test", dist=dist)
        if dist.is_main:
            Path(f"{checkpoint}.json").write_text(json.dumps({"world_size": dist.world_size, "seconds": time.perf_counter() - started, "fit": summary["fit"]}))


if __name__ == "__main__":
    main(*sys.argv[1:3])
