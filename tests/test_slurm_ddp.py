"""DDP hook (terraflux.train.distributed): 2 CPU processes with gloo follow the single-process trajectory."""

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from terraflux.train import distributed

from support.paths import WORKERS

WORKER = WORKERS / "slurm_ddp_worker.py"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _clean_env() -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLURM_", "RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_"))}
    return dict(env, GLOO_SOCKET_IFNAME="lo")  # one machine: loopback, whatever the host name resolves to


@pytest.mark.slow
@pytest.mark.parametrize("loop", ["plain", "engine"])
def test_two_gloo_processes_started_like_srun_match_one_process(tmp_path, loop):
    mode = ["engine"] if loop == "engine" else []
    single = tmp_path / "single.pt"
    subprocess.run([sys.executable, str(WORKER), str(single), *mode], check=True, timeout=120, env=_clean_env())
    port = str(_free_port())
    procs = []
    for rank in range(2):
        # what srun sets for each task of a job step
        env = dict(_clean_env(), SLURM_JOB_ID="7", SLURM_STEP_ID="0", SLURM_PROCID=str(rank), SLURM_LOCALID=str(rank),
                   SLURM_NTASKS="2", SLURM_STEP_NUM_TASKS="2", MASTER_ADDR="127.0.0.1", MASTER_PORT=port)
        procs.append(subprocess.Popen([sys.executable, str(WORKER), str(tmp_path / "ddp.pt"), *mode], env=env))
    try:
        for proc in procs:
            assert proc.wait(timeout=120) == 0
    finally:  # a hung rank must not outlive the test
        for proc in procs:
            proc.kill()
    one, two = torch.load(single, weights_only=True), torch.load(tmp_path / "ddp.pt", weights_only=True)
    assert one["world_size"] == 1 and two["world_size"] == 2
    for name, weights in one["state"].items():
        # same trajectory; only the order of the gradient all-reduce sum differs (float rounding)
        torch.testing.assert_close(two["state"][name], weights, rtol=1e-5, atol=1e-6)
    torch.manual_seed(0 if loop == "plain" else 3)
    initial = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.Tanh(), torch.nn.Linear(16, 1))
    assert not torch.equal(initial.state_dict()["0.weight"], one["state"]["0.weight"])  # it did train
    torch.testing.assert_close(two["loss"], one["loss"], rtol=1e-5, atol=1e-6)
    if loop == "engine":  # each rank trained on its part only (3 epochs of 48 rows in batches of 7)
        assert one["rows"] == [144] and two["rows"] == [81, 63]  # per epoch 6 x (4 | 3) + (3 | 3)
        for a, b in zip(one["history"], two["history"]):  # the logged whole-batch losses and norms, too
            assert a.keys() == b.keys() and all(a[k] == pytest.approx(b[k], rel=1e-5) for k in a)


def _two_ranks(out: Path, *args: str) -> list[subprocess.Popen]:
    port = str(_free_port())
    return [
        subprocess.Popen([sys.executable, str(WORKER), str(out), *args],
                         env=dict(_clean_env(), RANK=str(r), WORLD_SIZE="2", LOCAL_RANK=str(r), MASTER_ADDR="127.0.0.1", MASTER_PORT=port))
        for r in range(2)
    ]


def _wait(procs: list[subprocess.Popen], timeout: float = 120) -> list[int]:
    """Exit codes of ``procs`` (waiting up to ``timeout`` each; 0: kill them now)."""
    try:
        return [proc.wait(timeout=timeout) for proc in procs] if timeout else []
    finally:  # a hung rank must not outlive the test
        for proc in procs:
            proc.kill()
            proc.wait()


@pytest.mark.slow
def test_two_processes_killed_mid_training_resume_to_the_same_weights(tmp_path):
    """A preempted 2-process job (rank 0 killed after step 6; its partner then hangs until killed, as srun's
    --kill-on-bad-exit does) re-run as 2 processes resumes from rank 0's checkpoint (step 4) and ends bitwise
    like an uninterrupted 2-process run."""
    assert _wait(_two_ranks(tmp_path / "clean.pt", "engine")) == [0, 0]
    killed = _two_ranks(tmp_path / "killed.pt", "engine", "6")
    try:
        assert killed[0].wait(timeout=120) == -9
    finally:
        _wait(killed, timeout=0)  # ends the partner (gloo may already have failed it)
    assert (tmp_path / "killed.resume.pt").is_file() and not (tmp_path / "killed.pt").exists()
    assert _wait(_two_ranks(tmp_path / "killed.pt", "engine")) == [0, 0]
    clean, resumed = torch.load(tmp_path / "clean.pt", weights_only=True), torch.load(tmp_path / "killed.pt", weights_only=True)
    assert clean["resumed"] is None and resumed["resumed"] == 4 and resumed["steps"] == clean["steps"] == 21
    for name, weights in clean["state"].items():
        assert torch.equal(resumed["state"][name], weights), name
    assert resumed["history"] == clean["history"]


@pytest.mark.slow
def test_batch_norm_uses_the_whole_batch_statistics_across_processes(tmp_path):
    """SGD (no Adam: its per-element normalisation would magnify rounding) on conv + batch norm, batches of 7
    split 4 + 3: weights and running statistics of 2 processes equal one process's within float rounding."""
    subprocess.run([sys.executable, str(WORKER), str(tmp_path / "one.pt"), "batchnorm"], check=True, timeout=120, env=_clean_env())
    assert _wait(_two_ranks(tmp_path / "two.pt", "batchnorm")) == [0, 0]
    one, two = torch.load(tmp_path / "one.pt", weights_only=True), torch.load(tmp_path / "two.pt", weights_only=True)
    assert two["world_size"] == 2 and int(one["state"]["1.num_batches_tracked"]) == int(two["state"]["1.num_batches_tracked"]) == 10
    for name, weights in one["state"].items():
        torch.testing.assert_close(two["state"][name], weights, rtol=1e-5, atol=1e-6)


def test_rank_and_world_size_from_srun_or_torchrun(monkeypatch):
    for key in list(os.environ):
        if key.startswith(("SLURM_", "RANK", "WORLD_SIZE", "LOCAL_RANK")):
            monkeypatch.delenv(key)
    assert distributed.from_environment() == distributed.Distributed(0, 1, 0)
    # a batch script alone has SLURM_PROCID=0 and SLURM_NTASKS from --ntasks, but is one process
    monkeypatch.setenv("SLURM_PROCID", "0")
    monkeypatch.setenv("SLURM_NTASKS", "4")
    assert not distributed.from_environment().enabled
    monkeypatch.setenv("SLURM_STEP_ID", "0")
    monkeypatch.setenv("SLURM_PROCID", "3")
    monkeypatch.setenv("SLURM_LOCALID", "1")
    assert distributed.from_environment() == distributed.Distributed(3, 4, 1)
    monkeypatch.setenv("RANK", "1")
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("LOCAL_RANK", "1")
    assert distributed.from_environment() == distributed.Distributed(1, 2, 1)


def test_shard_batch_splits_tensors_in_nested_batches():
    batch = {"x": torch.arange(8).reshape(4, 2), "pair": (torch.arange(4), [torch.zeros(4, 1)]), "name": "cells"}
    part = distributed.Distributed(1, 2, 1).shard_batch(batch)
    assert torch.equal(part["x"], torch.tensor([[4, 5], [6, 7]]))
    assert torch.equal(part["pair"][0], torch.tensor([2, 3])) and part["pair"][1][0].shape == (2, 1)
    assert part["name"] == "cells"


def test_shard_splits_the_global_batch_evenly_or_says_what_to_do():
    items = list(range(12))
    assert distributed.Distributed(1, 3, 1).shard(items) == [4, 5, 6, 7]
    assert distributed.Distributed().shard(items) == items
    with pytest.raises(ValueError, match="divisible by the number of GPUs"):
        distributed.Distributed(0, 5, 0).shard(items)


def test_split_batch_takes_contiguous_parts_of_any_size_with_their_share():
    batch = {"cells": torch.arange(7), "pair": (torch.arange(7) * 10, [torch.zeros(7, 2)]), "name": "cells"}
    parts = [distributed.Distributed(r, 2, r).split_batch(batch) for r in range(2)]
    assert [p["cells"].tolist() for p, _ in parts] == [[0, 1, 2, 3], [4, 5, 6]]
    assert [share for _, share in parts] == [4 / 7, 3 / 7]
    assert parts[1][0]["pair"][0].tolist() == [40, 50, 60] and parts[1][0]["pair"][1][0].shape == (3, 2) and parts[1][0]["name"] == "cells"
    # fewer rows than processes: every rank takes the whole batch, each an equal share
    tiny, share = distributed.Distributed(2, 3, 0).split_batch((torch.arange(2), torch.arange(5)))
    assert tiny[0].tolist() == [0, 1] and tiny[1].tolist() == [0, 1, 2, 3, 4] and share == pytest.approx(1 / 3)
    assert distributed.Distributed().split_batch(batch) == (batch, 1.0)
