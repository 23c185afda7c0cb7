"""Worker for the DDP tests: a few seeded SGD steps of a small MLP; rank 0 saves the final weights.

Run as one process (plain ``python``), as N processes under ``srun -n N`` or with torchrun-style variables.
Usage: python slurm_ddp_worker.py OUT.pt [engine [KILL_AT] | batchnorm]   (engine: through terraflux.train.Engine; KILL_AT:
rank 0 kills itself (SIGKILL) after that optimiser step, as a preempted job; a re-run resumes)
"""

import sys

import terraflux  # noqa: F401  (native libraries in a safe order)
import torch

from terraflux.train import distributed


def main(out: str) -> None:
    torch.manual_seed(0)
    torch.use_deterministic_algorithms(True)
    data = torch.Generator().manual_seed(1)
    x = torch.randn(64, 8, generator=data)
    y = x @ torch.randn(8, 1, generator=data) + 0.1 * torch.randn(64, 1, generator=data)
    model = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.Tanh(), torch.nn.Linear(16, 1))
    with distributed.session() as dist:
        net = dist.wrap(model)
        optimiser = torch.optim.SGD(net.parameters(), lr=0.05)
        order = torch.randperm(64, generator=torch.Generator().manual_seed(2))  # same on every rank
        for step in range(8):
            batch = dist.shard(order[step * 8 : (step + 1) * 8])
            optimiser.zero_grad()
            loss = torch.nn.functional.mse_loss(net(x[batch]), y[batch])
            loss.backward()
            optimiser.step()
        final = dist.mean(torch.nn.functional.mse_loss(net(x), y).detach())
        tasks = _gather_tasks(dist)
        if dist.is_main:
            torch.save({"state": model.state_dict(), "world_size": dist.world_size, "loss": final, "tasks": tasks}, out)


def _gather_tasks(dist) -> list[list[int]]:
    """[SLURM_JOB_ID, SLURM_STEP_ID, SLURM_PROCID] of every rank (-1 where unset): who ran the training."""
    import os

    mine = torch.tensor([int(os.environ.get(k, -1)) for k in ("SLURM_JOB_ID", "SLURM_STEP_ID", "SLURM_PROCID")])
    every = [torch.zeros_like(mine) for _ in range(dist.world_size)]
    if dist.enabled:
        torch.distributed.all_gather(every, mine)
    else:
        every = [mine]
    return [t.tolist() for t in every]


def engine_main(out: str, kill_at: int = -1) -> None:
    """The same through the shared engine (``Engine(..., dist=dist)``): the engine gives each rank its part
    of every global batch and combines the gradients; batches of 7 split 4 + 3 (and the last one, 6, 3 + 3)."""
    import os
    import signal
    from pathlib import Path

    from terraflux.train import Engine, TrainConfig, seed_everything, seeded_loader, select_device

    seed_everything(3)
    data = torch.Generator().manual_seed(4)
    x = torch.randn(64, 8, generator=data)
    y = x.sum(1, keepdim=True) + 0.1 * torch.randn(64, 1, generator=data)
    train = torch.utils.data.TensorDataset(x[:48], y[:48])
    model = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.Tanh(), torch.nn.Linear(16, 1))
    seen = 0  # training rows this rank's train_step saw

    def step(m, batch):
        nonlocal seen
        seen += len(batch[0])
        return torch.nn.functional.mse_loss(m(batch[0]), batch[1])

    with distributed.session() as dist:

        def on_step(done: int) -> None:
            if done == kill_at and dist.is_main:
                os.kill(os.getpid(), signal.SIGKILL)

        optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
        engine = Engine(model, optimizer, TrainConfig(max_epochs=3, patience=0, checkpoint_every=4, grad_clip=1.0), on_step=on_step,
                        resume_path=Path(out).with_suffix(".resume.pt"), device=select_device("cpu", threads=1), dist=dist)
        result = engine.fit(
            lambda epoch: seeded_loader(train, batch_size=7, seed=5, epoch=epoch),
            lambda m, batch: step(m, batch),
            lambda m: float(torch.nn.functional.mse_loss(m(x[48:]), y[48:])),
        )
        rows = torch.tensor([seen])
        every = [torch.zeros_like(rows) for _ in range(dist.world_size)]
        if dist.enabled:
            torch.distributed.all_gather(every, rows)
        else:
            every = [rows]
        if dist.is_main:
            torch.save({"state": model.state_dict(), "world_size": dist.world_size, "loss": torch.tensor(result.best_val),
                        "steps": result.steps, "history": result.history, "rows": [int(r) for r in every],
                        "resumed": result.resumed_from_step}, out)


def batch_norm_main(out: str) -> None:
    """SGD through the engine on a model with batch norm (conv, BatchNorm1d, linear), batches of 7 split 4 + 3:
    with the whole batch's statistics on every rank, the same trajectory as one process."""
    from pathlib import Path

    from terraflux.train import Engine, TrainConfig, seed_everything, select_device

    seed_everything(6)
    data = torch.Generator().manual_seed(7)
    x = torch.randn(35, 3, 10, generator=data)
    y = x.mean((1, 2)).unsqueeze(1) * 3 + 0.1 * torch.randn(35, 1, generator=data)
    model = torch.nn.Sequential(torch.nn.Conv1d(3, 4, 3, padding=1), torch.nn.BatchNorm1d(4), torch.nn.Tanh(), torch.nn.Flatten(), torch.nn.Linear(40, 1))
    order = torch.randperm(35, generator=torch.Generator().manual_seed(8))
    with distributed.session() as dist:
        optimizer = torch.optim.SGD(model.parameters(), lr=0.05)
        engine = Engine(model, optimizer, TrainConfig(max_epochs=2, patience=0, grad_clip=0, checkpoint_every=100), dist=dist,
                        resume_path=Path(out).with_suffix(".resume.pt"), device=select_device("cpu", threads=1))
        engine.fit(lambda epoch: [(x[b], y[b]) for b in order.split(7)],
                   lambda m, batch: torch.nn.functional.mse_loss(m(batch[0]), batch[1]))
        if dist.is_main:
            torch.save({"state": model.state_dict(), "world_size": dist.world_size}, out)


if __name__ == "__main__":
    if sys.argv[2:3] == ["engine"]:
        engine_main(sys.argv[1], *map(int, sys.argv[3:4]))
    elif sys.argv[2:3] == ["batchnorm"]:
        batch_norm_main(sys.argv[1])
    else:
        main(sys.argv[1])
