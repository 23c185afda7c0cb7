"""Data-parallel training (terraflux.train.launch, terraflux.train.sync) with 2 CPU processes and gloo, started
as srun or torchrun start them.

What can be compared exactly. With 2 ranks the all-reduce adds two numbers per gradient element, one float
addition, which is commutative; each rank computes its part's gradient with the same operations on the same
shapes as one process computing that part. So 2 ranks end bitwise like one process that sums the share-weighted
losses of the same 2 parts (``slurm_ddp_worker.py --parts 2``), step after step. How the parts' sum compares
with the whole batch's gradient (float sums taken in another order) is tested in float64 in
tests/test_train_ddp_stage.py, where rounding is far below what a wrong share or statistic would change.
"""

import os
import socket
import subprocess
import sys
from pathlib import Path

from terraflux.train import launch
from terraflux.train.sync import split_batch

import pytest
import torch

from support.paths import WORKERS

WORKER = WORKERS / "slurm_ddp_worker.py"
U32 = 2.0**-24  # unit roundoff of float32


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _clean_env() -> dict:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("SLURM_", "RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_"))
    }
    # one machine: loopback, whatever the host name resolves to
    return dict(env, GLOO_SOCKET_IFNAME="lo", OMP_NUM_THREADS="1")


def _one(out: Path, *args: str) -> dict:
    subprocess.run([sys.executable, str(WORKER), str(out), *args], check=True, timeout=120, env=_clean_env())
    return torch.load(out, weights_only=True)


def _two_ranks(out: Path, *args: str, srun: bool = False) -> list[subprocess.Popen]:
    """2 processes with the variables srun sets for the tasks of a job step, or torchrun's."""
    port = str(_free_port())
    procs = []
    for rank in range(2):
        if srun:
            ids = dict(
                SLURM_JOB_ID="7",
                SLURM_STEP_ID="0",
                SLURM_PROCID=str(rank),
                SLURM_LOCALID=str(rank),
                SLURM_NTASKS="2",
                SLURM_STEP_NUM_TASKS="2",
            )
        else:
            ids = dict(RANK=str(rank), WORLD_SIZE="2", LOCAL_RANK=str(rank))
        env = dict(_clean_env(), MASTER_ADDR="127.0.0.1", MASTER_PORT=port, **ids)
        procs.append(subprocess.Popen([sys.executable, str(WORKER), str(out), *args], env=env))
    return procs


def _wait(procs: list[subprocess.Popen], timeout: float = 120) -> list[int]:
    """Exit codes of ``procs`` (waiting up to ``timeout`` each; 0: kill them now)."""
    try:
        return [proc.wait(timeout=timeout) for proc in procs] if timeout else []
    finally:  # a hung rank must not outlive the test
        for proc in procs:
            proc.kill()
            proc.wait()


@pytest.mark.slow
def test_two_ranks_started_like_srun_train_bitwise_like_one_process_summing_the_two_parts(tmp_path):
    parts = _one(tmp_path / "parts.pt", "--parts", "2")
    assert _wait(_two_ranks(tmp_path / "ddp.pt", srun=True)) == [0, 0]
    two = torch.load(tmp_path / "ddp.pt", weights_only=True)
    assert parts["world_size"] == 1 and two["world_size"] == 2 and two["tasks"] == [[7, 0, 0], [7, 0, 1]]
    assert parts["rows"] == [144] and two["rows"] == [81, 63]  # 3 epochs of 6 x (4 | 3) + (3 | 3) rows
    assert torch.equal(two["ranks"][0], two["ranks"][1])  # both ranks applied the same steps
    for name, weights in parts["state"].items():
        assert torch.equal(two["state"][name], weights), name
    assert parts["steps"] == two["steps"] == 21
    for a, b in zip(parts["history"], two["history"], strict=True):
        assert a.keys() == b.keys()
        # same weights, same gradients: validation loss and gradient norm are bitwise equal
        assert (a["val_loss"], a["train_grad_norm"]) == (b["val_loss"], b["train_grad_norm"])
        # The logged loss is rounded differently. One process rounds each share to float32, each share x part
        # loss and their sum (3 roundings); the ranks take share x part loss in float64, round it to float32 and
        # sum in float32 (2, and one float64 rounding). Every term is >= 0 (a mean squared error), so the step
        # losses, and their means over an epoch, are at most (1 + u)^3 (1 + u64) / (1 - u)^2 - 1 < 6 u apart.
        assert b["train_loss"] == pytest.approx(a["train_loss"], rel=6 * U32, abs=0)


@pytest.mark.slow
def test_two_processes_killed_mid_training_resume_to_the_same_weights(tmp_path):
    """A preempted 2-process job (rank 0 killed after step 6; its partner then hangs until killed, as srun's
    --kill-on-bad-exit does) re-run as 2 processes resumes from rank 0's checkpoint (step 4) and ends bitwise
    like an uninterrupted 2-process run."""
    assert _wait(_two_ranks(tmp_path / "clean.pt")) == [0, 0]
    killed = _two_ranks(tmp_path / "killed.pt", "--kill-at", "6")
    try:
        assert killed[0].wait(timeout=120) == -9
    finally:
        _wait(killed, timeout=0)  # ends the partner (gloo may already have failed it)
    assert (tmp_path / "killed.resume.pt").is_file() and not (tmp_path / "killed.pt").exists()
    assert _wait(_two_ranks(tmp_path / "killed.pt")) == [0, 0]
    clean, resumed = (
        torch.load(tmp_path / "clean.pt", weights_only=True),
        torch.load(tmp_path / "killed.pt", weights_only=True),
    )
    assert clean["resumed"] is None and resumed["resumed"] == 4 and resumed["steps"] == clean["steps"] == 21
    for name, weights in clean["state"].items():
        assert torch.equal(resumed["state"][name], weights), name
    assert resumed["history"] == clean["history"]


@pytest.mark.slow
def test_batch_norm_uses_the_whole_batch_statistics_across_processes(tmp_path):
    """SGD on conv + batch norm in float64, batches of 7 split 4 + 3: weights and running statistics of 2
    processes equal one process's up to rounding.

    Tolerance. The runs differ only in the order of float64 sums: the batch-norm statistics (70 values per
    channel: 40 + 30 on the ranks, then added), their gradients, the gradients summed over ranks. A sum of n terms
    is off by at most (n - 1) u64 times the sum of its terms' magnitudes: with n <= 70 and magnitudes within a
    factor 100 of the results (standardised inputs, initial-scale weights), one step's gradients and statistics
    differ by < 70 x 100 x u64 ~ 8e-13 relative. SGD at a learning rate it converges with does not amplify a
    perturbation of the weights to first order (the step's Jacobian I - lr H has eigenvalues within (-1, 1] for
    lr x curvature < 2), so 10 steps add up to ~1e-11: rtol 1e-9 leaves a factor 100 for second-order terms.
    Normalising each part with its own statistics instead moves the weights by ~0.4 of their scale."""
    one = _one(tmp_path / "one.pt", "batchnorm")
    assert _wait(_two_ranks(tmp_path / "two.pt", "batchnorm")) == [0, 0]
    two = torch.load(tmp_path / "two.pt", weights_only=True)
    assert (
        two["world_size"] == 2
        and int(one["state"]["1.num_batches_tracked"]) == int(two["state"]["1.num_batches_tracked"]) == 10
    )
    for name, weights in one["state"].items():
        if weights.is_floating_point():
            assert weights.dtype == torch.float64
            torch.testing.assert_close(two["state"][name], weights, rtol=1e-9, atol=1e-9 * float(weights.abs().max()))


def test_rank_and_world_size_from_srun_or_torchrun(monkeypatch):
    for key in list(os.environ):
        if key.startswith(("SLURM_", "RANK", "WORLD_SIZE", "LOCAL_RANK")):
            monkeypatch.delenv(key)
    assert launch.from_environment() == launch.Distributed(0, 1, 0)
    # a batch script alone has SLURM_PROCID=0 and SLURM_NTASKS from --ntasks, but is one process
    monkeypatch.setenv("SLURM_PROCID", "0")
    monkeypatch.setenv("SLURM_NTASKS", "4")
    assert not launch.from_environment().enabled
    monkeypatch.setenv("SLURM_STEP_ID", "0")
    monkeypatch.setenv("SLURM_PROCID", "3")
    monkeypatch.setenv("SLURM_LOCALID", "1")
    assert launch.from_environment() == launch.Distributed(3, 4, 1)
    monkeypatch.setenv("RANK", "1")
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("LOCAL_RANK", "1")
    assert launch.from_environment() == launch.Distributed(1, 2, 1)


def test_split_batch_takes_contiguous_parts_of_any_size_with_their_share():
    batch = {"cells": torch.arange(7), "pair": (torch.arange(7) * 10, [torch.zeros(7, 2)]), "name": "cells"}
    parts = [split_batch(launch.Distributed(r, 2, r), batch) for r in range(2)]
    assert [p["cells"].tolist() for p, _ in parts] == [[0, 1, 2, 3], [4, 5, 6]]
    assert [share for _, share in parts] == [4 / 7, 3 / 7]
    assert (
        parts[1][0]["pair"][0].tolist() == [40, 50, 60]
        and parts[1][0]["pair"][1][0].shape == (3, 2)
        and parts[1][0]["name"] == "cells"
    )
    # fewer rows than processes: every rank takes the whole batch, each an equal share
    tiny, share = split_batch(launch.Distributed(2, 3, 0), (torch.arange(2), torch.arange(5)))
    assert tiny[0].tolist() == [0, 1] and tiny[1].tolist() == [0, 1, 2, 3, 4] and share == pytest.approx(1 / 3)
    assert split_batch(launch.Distributed(), batch) == (batch, 1.0)
