"""Worker for the DDP tests: a few seeded SGD steps of a small MLP; rank 0 saves the final weights.

Run as one process (plain ``python``), as N processes under ``srun -n N`` or with torchrun-style variables.
Usage: python slurm_ddp_worker.py OUT.pt
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
        if dist.is_main:
            torch.save({"state": model.state_dict(), "world_size": dist.world_size, "loss": final}, out)


if __name__ == "__main__":
    main(sys.argv[1])
