"""Worker for the data-parallel tests: a few seeded Adam steps of a small MLP through the shared engine; rank 0
saves the final weights.

Run as one process (plain ``python``), as N processes under ``srun -n N`` or with torchrun-style variables.

Usage: python slurm_ddp_worker.py OUT.pt [--parts N] [--kill-at STEP]
       python slurm_ddp_worker.py OUT.pt batchnorm

``--parts N`` (one process): each step's loss is the share-weighted sum of the losses of the N contiguous parts
of the batch, cut as the engine cuts it for N ranks (``terraflux.train.sync.split_batch``): what N ranks compute
together, in one process. ``--kill-at STEP``: rank 0 kills itself (SIGKILL) after that optimiser step, as a
preempted job; a re-run resumes. ``batchnorm``: SGD on a model with batch norm, in float64.

OUT.pt holds the weights (``state``), ``world_size``, the best validation loss (``loss``), ``steps``, the fit
``history``, the training rows each rank saw (``rows``), the step it resumed from (``resumed``), every rank's
weights flattened (``ranks``: equal bitwise when the ranks stayed in step) and each rank's
[SLURM_JOB_ID, SLURM_STEP_ID, SLURM_PROCID] (``tasks``, -1 where unset).
"""

import argparse
import os
import signal
from pathlib import Path

import terraflux  # noqa: F401  (native libraries in a safe order)
from terraflux.train import Engine, TrainConfig, launch, seed_everything, seeded_loader, select_device
from terraflux.train.sync import split_batch

import torch


def _gather(dist, tensor: torch.Tensor) -> list[torch.Tensor]:
    """``tensor`` of every rank (the same shape on every rank)."""
    if not dist.enabled:
        return [tensor]
    every = [torch.zeros_like(tensor) for _ in range(dist.world_size)]
    torch.distributed.all_gather(every, tensor)
    return every


def main(out: str, parts: int = 1, kill_at: int = -1) -> None:
    """Adam through ``Engine(..., dist=dist)``, 3 epochs of 48 rows in batches of 7 (the last one 6): with 2
    ranks each trains on its part of every batch (4 + 3 rows, the last 3 + 3) and the gradients are summed."""
    seed_everything(3)
    data = torch.Generator().manual_seed(4)
    x = torch.randn(64, 8, generator=data)
    y = x.sum(1, keepdim=True) + 0.1 * torch.randn(64, 1, generator=data)
    train = torch.utils.data.TensorDataset(x[:48], y[:48])
    model = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.Tanh(), torch.nn.Linear(16, 1))
    seen = 0  # training rows this rank's loss saw

    def loss(m, batch):
        nonlocal seen
        seen += len(batch[0])
        return torch.nn.functional.mse_loss(m(batch[0]), batch[1])

    def step(m, batch):
        if parts == 1:
            return loss(m, batch)
        total = None
        for rank in range(parts):  # each part scaled by its share, as the engine scales each rank's loss
            part, share = split_batch(launch.Distributed(rank, parts, rank), batch)
            scaled = loss(m, part) * share
            total = scaled if total is None else total + scaled
        return total

    with launch.session() as dist:

        def on_step(done: int) -> None:
            if done == kill_at and dist.is_main:
                os.kill(os.getpid(), signal.SIGKILL)

        optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
        config = TrainConfig(max_epochs=3, patience=0, grad_clip=1.0, checkpoint_every=4)
        engine = Engine(
            model,
            optimizer,
            config,
            on_step=on_step,
            resume_path=Path(out).with_suffix(".resume.pt"),
            device=select_device("cpu", threads=1),
            dist=dist,
        )
        result = engine.fit(
            lambda epoch: seeded_loader(train, batch_size=7, seed=5, epoch=epoch),
            step,
            lambda m: float(torch.nn.functional.mse_loss(m(x[48:]), y[48:])),
        )
        rows = _gather(dist, torch.tensor([seen]))
        flat = torch.cat([p.detach().flatten() for p in model.state_dict().values()])
        ranks = _gather(dist, flat)
        ids = torch.tensor([int(os.environ.get(k, -1)) for k in ("SLURM_JOB_ID", "SLURM_STEP_ID", "SLURM_PROCID")])
        tasks = _gather(dist, ids)
        if dist.is_main:
            torch.save(
                {
                    "state": model.state_dict(),
                    "world_size": dist.world_size,
                    "loss": torch.tensor(result.best_val),
                    "steps": result.steps,
                    "history": result.history,
                    "rows": [int(r) for r in rows],
                    "resumed": result.resumed_from_step,
                    "ranks": ranks,
                    "tasks": [t.tolist() for t in tasks],
                },
                out,
            )


def batch_norm_main(out: str) -> None:
    """SGD through the engine on a model with batch norm (conv, BatchNorm1d, linear), batches of 7 split 4 + 3,
    in float64: with the whole batch's statistics on every rank, the same trajectory as one process."""
    seed_everything(6)
    data = torch.Generator().manual_seed(7)
    x = torch.randn(35, 3, 10, generator=data, dtype=torch.float64)
    y = x.mean((1, 2)).unsqueeze(1) * 3 + 0.1 * torch.randn(35, 1, generator=data, dtype=torch.float64)
    model = torch.nn.Sequential(
        torch.nn.Conv1d(3, 4, 3, padding=1),
        torch.nn.BatchNorm1d(4),
        torch.nn.Tanh(),
        torch.nn.Flatten(),
        torch.nn.Linear(40, 1),
    ).double()
    order = torch.randperm(35, generator=torch.Generator().manual_seed(8))
    with launch.session() as dist:
        optimizer = torch.optim.SGD(model.parameters(), lr=0.05)
        engine = Engine(
            model,
            optimizer,
            TrainConfig(max_epochs=2, patience=0, grad_clip=0, checkpoint_every=100),
            dist=dist,
            resume_path=Path(out).with_suffix(".resume.pt"),
            device=select_device("cpu", threads=1),
        )
        engine.fit(
            lambda epoch: [(x[b], y[b]) for b in order.split(7)],
            lambda m, batch: torch.nn.functional.mse_loss(m(batch[0]), batch[1]),
        )
        if dist.is_main:
            torch.save({"state": model.state_dict(), "world_size": dist.world_size}, out)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out")
    parser.add_argument("mode", nargs="?", choices=["batchnorm"])
    parser.add_argument("--parts", type=int, default=1)
    parser.add_argument("--kill-at", type=int, default=-1)
    args = parser.parse_args()
    if args.mode == "batchnorm":
        batch_norm_main(args.out)
    else:
        main(args.out, args.parts, args.kill_at)
