"""A small training job on the shared engine, for the preemption tests: killed and re-run, it must end
with the same weights and metrics as an uninterrupted run.

Usage: python slurm_train_worker.py OUT_DIR [STEP_SECONDS]
Writes OUT_DIR/.resume/last.pt (rolling checkpoint, every step), and when finished OUT_DIR/weights.pt and
OUT_DIR/metrics.json (atomically: a killed run leaves neither). STEP_SECONDS slows each step down so that
a test can kill the job in the middle.
"""

import json
import sys
import time
from pathlib import Path

import terraflux  # noqa: F401  (native libraries in a safe order)
from terraflux.train import Engine, TrainConfig, derive_seed, seed_everything, seeded_loader, select_device
from terraflux.workflow.atomic import atomic_output

import torch


def main(out: Path, step_seconds: float) -> None:
    seed = derive_seed(20240501, "preemption-test")
    seed_everything(seed)
    data = torch.Generator().manual_seed(seed % 2**32)
    x = torch.randn(96, 6, generator=data)
    y = torch.sin(x.sum(1, keepdim=True)) + 0.05 * torch.randn(96, 1, generator=data)
    train = torch.utils.data.TensorDataset(x[:64], y[:64])
    model = torch.nn.Sequential(torch.nn.Linear(6, 32), torch.nn.ReLU(), torch.nn.Dropout(0.1), torch.nn.Linear(32, 1))
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    engine = Engine(
        model,
        optimizer,
        TrainConfig(max_epochs=6, patience=0, checkpoint_every=1, grad_clip=1.0),
        resume_path=out / ".resume" / "last.pt",
        scheduler=torch.optim.lr_scheduler.StepLR(optimizer, 2, 0.5),
        device=select_device("cpu", threads=1),
        fingerprint="preemption-test",
        on_step=lambda step: time.sleep(step_seconds),
    )
    result = engine.fit(
        lambda epoch: seeded_loader(train, batch_size=16, seed=seed, epoch=epoch),
        lambda net, batch: torch.nn.functional.mse_loss(net(batch[0]), batch[1]),
        lambda net: float(torch.nn.functional.mse_loss(net(x[64:]), y[64:])),
    )
    with atomic_output(out / "weights.pt") as tmp:
        torch.save(model.state_dict(), tmp)
    metrics = {k: v for k, v in result.as_dict().items() if k not in ("seconds", "resumed_from_step")}
    with atomic_output(out / "metrics.json") as tmp:
        tmp.write_text(json.dumps(metrics, indent=1, sort_keys=True))
    print(f"resumed_from_step={result.resumed_from_step} steps={result.steps}")


if __name__ == "__main__":
    main(Path(sys.argv[1]), float(sys.argv[2]) if len(sys.argv) > 2 else 0.0)
