"""Data-parallel training of real stages: DERE step 3a (the PFT model, with batch norm) and IDE training, each
by 2 gloo processes through ``Engine(dist=...)``, against 1 process.

DERE step 3a runs in float64 (tests/support/workers/train_ddp_stage_worker.py). In float32 the two runs cannot be
compared weight by weight after a few steps: Adam divides every gradient element by its own running RMS plus
eps = 1e-8, so a weight whose gradient is analytically 0 (a bias in front of batch norm) but holds float32
rounding noise (u32 = 6e-8 times the gradient's summands, of the order of eps) takes steps of up to lr in a
direction set by that noise, differently in each run, and batch norm's running statistics carry that drift into
the eval-mode outputs. In float64 the noise is 2^29 times smaller, far below eps, and the tolerances below follow
from float64 rounding.
"""

import copy
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import terraflux  # noqa: F401

import pytest
import torch

from support.configs import load_config
from support.dere_world import tiny_dataset
from support.paths import WORKERS

pytestmark = pytest.mark.slow
TINY = load_config("dere_tiny")["dere"]
WORKER = WORKERS / "train_ddp_stage_worker.py"
U32 = 2.0**-24  # unit roundoff of float32
U64 = 2.0**-53  # unit roundoff of float64
ADAM_EPS = 1e-8  # torch.optim.Adam's default, as the stages use it


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _env(**extra) -> dict:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("SLURM_", "RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_"))
    }
    return dict(env, GLOO_SOCKET_IFNAME="lo", OMP_NUM_THREADS="1", **extra)


@pytest.fixture(scope="module")
def stage_inputs(tmp_path_factory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("ddp_stage")
    ds = tiny_dataset(root, TINY)
    ds.to_zarr(root / "dataset.zarr", zarr_format=3, consolidated=False)
    cfg = copy.deepcopy(TINY)
    # 2 encoder layers: a distilling layer with batch norm between them
    cfg["pft_model"].update(dropout=0.0, e_layers=2)
    cfg["train"]["batch_size"] = 7  # 22 samples: batches of 7 split 4 + 3, and a last one of 1 that is not split
    cfg["epochs"]["step3a"] = 3
    (root / "config.json").write_text(json.dumps(cfg))
    return root / "dataset.zarr", root / "config.json"


def _run_ranks(args: list[str], world_size: int) -> None:
    """Run ``args`` as one process, or as ``world_size`` gloo ranks rendezvousing on 127.0.0.1; each must succeed."""
    port = str(_free_port())
    envs = (
        [_env()]
        if world_size == 1
        else [
            _env(RANK=str(r), WORLD_SIZE=str(world_size), LOCAL_RANK=str(r), MASTER_ADDR="127.0.0.1", MASTER_PORT=port)
            for r in range(world_size)
        ]
    )
    procs = [
        subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) for env in envs
    ]
    try:
        for proc in procs:
            output, _ = proc.communicate(timeout=180)
            assert proc.returncode == 0, output[-4000:]
    finally:  # a hung rank must not outlive the test
        for proc in procs:
            proc.kill()
            proc.wait()


def _train(tmp_path: Path, name: str, inputs: tuple[Path, Path], world_size: int) -> dict:
    dataset, config = inputs
    out = tmp_path / f"{name}.pt"
    args = [sys.executable, str(WORKER), str(dataset), str(out), str(tmp_path / f"{name}_resume"), str(config)]
    _run_ranks(args, world_size)
    return torch.load(out, weights_only=True)


def test_two_gloo_processes_train_dere_step3a_like_one(tmp_path, stage_inputs):
    one = _train(tmp_path, "one", stage_inputs, 1)
    two = _train(tmp_path, "two", stage_inputs, 2)
    assert one["world_size"] == 1 and two["world_size"] == 2
    assert torch.equal(two["ranks"][0], two["ranks"][1])  # both ranks applied the same steps (exact)
    assert one["fit"]["steps"] == two["fit"]["steps"] == 12  # 3 epochs of 4 batches
    assert [p.name for p in (tmp_path / "two_resume").iterdir()] == ["step3a.pt"]  # rank 0 alone wrote it
    assert any(k.endswith("norm.running_var") for k in one["state"])  # a batch-norm layer was trained
    lrs = [h["lr"] for h in one["fit"]["history"] for _ in range(4)]  # the learning rate of each step

    # One step of 1 and of 2 processes differ by the order of float64 sums only (the batch-norm statistics and the
    # gradients summed over the ranks' parts). A sum of n terms is off by at most (n - 1) u64 times the sum of its
    # terms' magnitudes; the longest sums of a step have n = 336 terms (the input embedding's convolution:
    # 112 features x 3 months): ROUND.
    rounding = 336 * U64
    # Adam moves a weight whose gradient is analytically 0 (a bias in front of batch norm) by lr x (its rounding
    # noise) / eps each step, in each run differently. The noise is at most ROUND times the magnitude of the
    # gradient's summands, which cancel; bounding that magnitude by 100 x the largest gradient norm the engine
    # logged, such a weight ends at most 2 x sum(lr) x ROUND x 100 x norm / eps apart (~2e-5 here). Every other
    # weight and buffer differs by ~ROUND relative, far less. Counting a batch that every rank holds whole once per
    # rank in the running variance (the last batch here has 1 row) moves that buffer by ~1e-3.
    norm = max(h["train_grad_norm"] for h in one["fit"]["history"])
    weights_atol = 2 * sum(lrs) * rounding * 100 * norm / ADAM_EPS
    diff = {k: float((two["state"][k] - v).abs().max()) for k, v in one["state"].items() if v.is_floating_point()}
    print(
        f"step3a float64: weight difference max {max(diff.values()):.1e} (bound {weights_atol:.1e}); "
        f"1 process {one['seconds']:.2f} s, 2 processes {two['seconds']:.2f} s"
    )
    assert max(diff.values()) <= weights_atol, sorted(diff.items(), key=lambda kv: -kv[1])[:5]
    # In eval mode batch norm normalises with its running statistics, so the drift of a bias in front of it
    # passes on to the normalised values, divided by the running standard deviation (>= min_std). The layers
    # after it end in a sigmoid (slope <= 1/4); taking their gain before it as at most 4 (initial-scale weights,
    # layer norms), the predictions (fractions in [0, 1]) move by at most weights_atol / min_std, and the
    # validation loss (a mean squared error of such fractions) by at most twice that.
    min_std = min(float(v.min()) for k, v in one["state"].items() if k.endswith("running_var")) ** 0.5
    assert min_std > 0.01
    pred_atol = weights_atol / min_std
    torch.testing.assert_close(two["pred"], one["pred"], rtol=0, atol=pred_atol)
    for a, b in zip(one["fit"]["history"], two["fit"]["history"], strict=True):
        assert a.keys() == b.keys()
        assert b["val_loss"] == pytest.approx(a["val_loss"], rel=0, abs=2 * pred_atol)
        # The engine logs losses and gradient norms rounded to float32: 1 process rounds the whole batch's loss,
        # the ranks each round their part's and sum share x part in float64 (every term >= 0): at most 2 u32
        # apart, plus float64 differences far below u32. The gradient norms are the same to ~ROUND, each rounded
        # to float32 once: at most 2 u32 apart.
        assert b["train_loss"] == pytest.approx(a["train_loss"], rel=3 * U32, abs=0)
        assert b["train_grad_norm"] == pytest.approx(a["train_grad_norm"], rel=3 * U32, abs=0)
    # the best epoch is the same: the validation losses of different epochs lie further apart than the runs
    val = [h["val_loss"] for h in one["fit"]["history"]]
    assert min(abs(x - y) for i, x in enumerate(val) for y in val[i + 1 :]) > 4 * pred_atol
    assert two["fit"]["best_epoch"] == one["fit"]["best_epoch"]


IDE_WORKER = WORKERS / "train_ddp_ide_worker.py"


def _ide(tmp_path: Path, dataset: Path, name: str, world_size: int) -> tuple[dict, dict]:
    checkpoint = tmp_path / f"{name}.pt"
    args = [sys.executable, str(IDE_WORKER), str(dataset), str(checkpoint)]
    _run_ranks(args, world_size)
    return torch.load(checkpoint, weights_only=True), json.loads(Path(f"{checkpoint}.json").read_text())


def test_two_gloo_processes_train_the_ide_model(tmp_path):
    """IDE training (batches of 4 crops split 2 + 2) by 2 processes through ``train(..., dist=)``.

    Not compared with one process: the IDE loss uses statistics of the batch it is given (class weights from the
    batch's share of extremes, the LFQ entropy over the batch's codes), so 2 ranks optimise their parts'
    statistics, which one process of the whole batch does not, and no rounding bound relates the two runs.
    What holds exactly: both ranks end with the same weights, the same steps are taken, rank 0 alone writes
    the checkpoint and removes the resume state; the engine's synchronisation itself is compared with one process
    in tests/test_slurm_ddp.py (bitwise) and above (DERE step 3a, float64).
    """
    from terraflux.ide.benchmark import write_benchmark
    from terraflux.ide.dataset import benchmark_source, write_dataset

    from support.ide_config import benchmark_config

    write_benchmark(benchmark_config(4, height=10, width=12, weeks=208, events_per_year=20.0), tmp_path / "b.zarr")
    write_dataset(benchmark_source(tmp_path / "b.zarr"), tmp_path / "d.zarr", 10.0, {})
    one, one_info = _ide(tmp_path, tmp_path / "d.zarr", "one", 1)
    two, two_info = _ide(tmp_path, tmp_path / "d.zarr", "two", 2)
    assert (one_info["world_size"], two_info["world_size"]) == (1, 2)
    assert len(two_info["ranks"]) == 2 and two_info["ranks"][0] == two_info["ranks"][1]  # the weights' digests
    assert one_info["fit"]["steps"] == two_info["fit"]["steps"] == 6
    assert [h.keys() for h in one_info["fit"]["history"]] == [h.keys() for h in two_info["fit"]["history"]]
    assert one["model"].keys() == two["model"].keys()
    # removed after the final write
    assert not any((tmp_path / f".{name}.pt.resume.pt").exists() for name in ("one", "two"))
