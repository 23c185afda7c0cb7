"""Preemption and time limits: a training job killed (SIGTERM, SIGKILL, Slurm scancel) and re-run resumes
from its last checkpoint and ends bit-identical to an uninterrupted run on CPU; a killed job leaves no
final output behind.

The job is tests/slurm_train_worker.py on the shared engine (terraflux.train.Engine), run as its own
process so that the signal comes from outside at an arbitrary moment (also while a checkpoint is written).
"""

import json
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from support.paths import WORKERS
from support.slurm_cluster import TEST_FLAGS, run

WORKER = WORKERS / "slurm_train_worker.py"
STEPS = 24  # 6 epochs x 4 batches


def _step(out: Path) -> int:
    """Optimizer steps in the job's last checkpoint (0 when none is there yet)."""
    path = out / ".resume" / "last.pt"
    try:
        return int(torch.load(path, weights_only=True)["step"])
    except Exception:  # not written yet (the rename is atomic, so never half-read)
        return 0


def _wait_for_step(out: Path, step: int, alive, timeout: float = 90) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        reached = _step(out)
        if reached >= step:
            return reached
        assert alive(), "the training job ended before it could be interrupted"
        time.sleep(0.05)
    raise AssertionError(f"no checkpoint at step {step} after {timeout} s")


def _assert_same_result(out: Path, reference: Path) -> None:
    mine, ref = (
        torch.load(out / "weights.pt", weights_only=True),
        torch.load(reference / "weights.pt", weights_only=True),
    )
    assert mine.keys() == ref.keys()
    for name in ref:
        assert torch.equal(mine[name], ref[name]), f"weights {name} differ from the uninterrupted run"
    assert json.loads((out / "metrics.json").read_text()) == json.loads((reference / "metrics.json").read_text())


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The uninterrupted run."""
    out = tmp_path_factory.mktemp("uninterrupted")
    subprocess.run([sys.executable, str(WORKER), str(out)], check=True, timeout=120, capture_output=True)
    assert json.loads((out / "metrics.json").read_text())["steps"] == STEPS
    return out


@pytest.mark.slow
@pytest.mark.parametrize("signals", [(signal.SIGTERM,), (signal.SIGKILL,), (signal.SIGTERM, signal.SIGKILL)])
def test_killed_training_resumes_to_identical_weights_and_metrics(tmp_path, reference, signals):
    for n, sig in enumerate(signals):
        proc = subprocess.Popen([sys.executable, str(WORKER), str(tmp_path), "0.15"], stdout=subprocess.PIPE, text=True)
        try:
            at = _wait_for_step(tmp_path, 5 + 8 * n, lambda proc=proc: proc.poll() is None)
            proc.send_signal(sig)
            assert proc.wait(timeout=30) == -sig
        finally:
            if proc.poll() is None:
                proc.kill()
        # partial outputs never look complete: only the rolling checkpoint exists
        assert not (tmp_path / "weights.pt").exists() and not (tmp_path / "metrics.json").exists()
        assert not list(tmp_path.glob("*.tmp*")) and not list(tmp_path.glob(".*weights*"))
        assert at <= _step(tmp_path) < STEPS
    rerun = subprocess.run(
        [sys.executable, str(WORKER), str(tmp_path)], check=True, timeout=120, capture_output=True, text=True
    )
    resumed = int(rerun.stdout.split("resumed_from_step=")[1].split()[0])
    assert 5 + 8 * (len(signals) - 1) <= resumed < STEPS, rerun.stdout
    _assert_same_result(tmp_path, reference)


@pytest.mark.slurm
def test_slurm_job_cancelled_and_resubmitted_resumes_to_identical_result(tmp_path, reference, slurm):
    def submit() -> str:
        cmd = f"{sys.executable} {WORKER} {tmp_path} 0.15"
        return run(
            [
                "sbatch",
                "--parsable",
                "--requeue",
                "-c",
                "1",
                "--mem",
                "1000",
                "-o",
                str(tmp_path / "slurm-%j.log"),
                "--wrap",
                cmd,
            ]
        ).stdout.strip()

    def state(job: str) -> str:
        return run(["squeue", "-h", "--states=all", "-j", job, "-o", "%T"], check=False).stdout.strip()

    first = submit()
    _wait_for_step(tmp_path, 5, lambda: state(first) in ("PENDING", "CONFIGURING", "RUNNING"))
    run(["scancel", first])  # what preemption does to a job without requeue: SIGTERM, then SIGKILL
    deadline = time.monotonic() + 60
    while state(first) not in ("CANCELLED", "") and time.monotonic() < deadline:
        time.sleep(0.2)
    assert state(first) == "CANCELLED"
    assert not (tmp_path / "weights.pt").exists() and not (tmp_path / "metrics.json").exists()
    second = submit()
    deadline = time.monotonic() + 120
    while state(second) not in ("COMPLETED", "FAILED", "CANCELLED", "TIMEOUT") and time.monotonic() < deadline:
        time.sleep(0.3)
    log = (tmp_path / f"slurm-{second}.log").read_text()
    assert state(second) == "COMPLETED", log
    assert 5 <= int(log.split("resumed_from_step=")[1].split()[0]) < STEPS
    _assert_same_result(tmp_path, reference)
    finished = {job["JobId"]: job["JobState"] for job in slurm.finished_jobs()}
    assert finished[first] == "CANCELLED" and finished[second] == "COMPLETED"


# ----------------------------------------------------------------------------- a real training stage
# The IDE training stage of the tiny demo (ide_train), made long enough to be interrupted mid-way.
import os  # noqa: E402
import shutil  # noqa: E402

import psutil  # noqa: E402

from support import tiny_demo  # noqa: E402
from support.paths import BIN, REPO_ROOT  # noqa: E402

LONGER = "ide: {train: {epochs: 2, steps_per_epoch: 100, checkpoint_every: 5}}\n"
CHECKPOINT = f"{tiny_demo.IDE}/checkpoint.pt"
RESUME = f"{tiny_demo.IDE}/.checkpoint.pt.resume.pt"
TIMING = ("seconds", "resumed_from_step")


def _snakemake(workdir: Path, *args: str) -> list[str]:
    return [
        str(BIN / "snakemake"),
        CHECKPOINT,
        "--snakefile",
        str(REPO_ROOT / "Snakefile"),
        "--directory",
        str(workdir),
        *args,
        *tiny_demo.config_args(workdir, LONGER),
    ]


def _run(cmd: list[str], timeout: int = 400) -> subprocess.CompletedProcess:
    done = subprocess.run(["timeout", "-s", "KILL", str(timeout), *cmd], cwd=REPO_ROOT, capture_output=True, text=True)
    assert done.returncode == 0, f"{' '.join(cmd)}:\n{done.stdout[-2000:]}\n{done.stderr[-5000:]}"
    return done


@pytest.fixture(scope="module")
def ide_inputs(tmp_path_factory) -> Path:
    """A working directory with the IDE benchmark and dataset built (the training stage's inputs)."""
    workdir = tmp_path_factory.mktemp("ide-inputs")
    cmd = _snakemake(workdir, "--cores", "2")
    cmd[1] = f"resources/{tiny_demo.RUN}/ide/benchmark/dataset.zarr"
    _run(cmd)
    return workdir


@pytest.fixture(scope="module")
def ide_reference(ide_inputs, tmp_path_factory) -> Path:
    workdir = tmp_path_factory.mktemp("ide-reference")
    shutil.copytree(ide_inputs, workdir, dirs_exist_ok=True, symlinks=True)
    _run(_snakemake(workdir, "--cores", "1"))
    return workdir


def _same_training(workdir: Path, reference: Path) -> int:
    """Assert identical weights and training history; returns the step the run resumed from."""
    mine = torch.load(workdir / CHECKPOINT, weights_only=True)
    ref = torch.load(reference / CHECKPOINT, weights_only=True)
    for name, tensor in ref["model"].items():
        assert torch.equal(mine["model"][name], tensor), f"weights {name} differ from the uninterrupted run"
    # same losses, validation metrics, learning rates, epochs, steps (outputs hold no wall time or resume point)
    assert mine["summary"]["fit"] == ref["summary"]["fit"]
    assert not set(TIMING) & set(mine["summary"]["fit"])
    assert not (workdir / RESUME).exists()  # cleaned up once complete
    return _resumed_from(workdir)


def _resumed_from(workdir: Path) -> int:
    """The step the last training job resumed from, as the engine logs it (0: it did not resume)."""
    log = (workdir / "logs" / tiny_demo.RUN / "ide_train_benchmark_cnn3d_lfq_seed0.log").read_text()
    found = re.findall(r"resuming from .* step (\d+)", log)
    return int(found[-1]) if found else 0


def _workdir(ide_inputs: Path, tmp_path: Path) -> Path:
    shutil.copytree(ide_inputs, tmp_path, dirs_exist_ok=True, symlinks=True)
    return tmp_path


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL])
def test_training_stage_killed_resumes_to_the_uninterrupted_result(ide_inputs, ide_reference, tmp_path, sig):
    """The training job's process gets SIGTERM (what Slurm sends at preemption or the time limit) or SIGKILL."""
    workdir = _workdir(ide_inputs, tmp_path)
    cmd = _snakemake(workdir, "--cores", "1")
    proc = subprocess.Popen(
        cmd, cwd=REPO_ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    try:
        _wait_for_resume(workdir, 10, lambda: proc.poll() is None)
        job = [
            p
            for p in psutil.Process(proc.pid).children(recursive=True)
            if any(".snakemake/scripts/" in a for a in p.cmdline())
        ]
        assert job, "the training job's process was not found"
        for process in job:
            process.send_signal(sig)
        assert proc.wait(timeout=120) != 0  # snakemake reports the failed job
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert not (workdir / CHECKPOINT).exists(), "a killed job left a checkpoint that looks complete"
    assert 10 <= _resume_step(workdir) < 200
    _run(_snakemake(workdir, "--cores", "1"))  # the re-run (profiles/default: rerun-incomplete)
    assert 10 <= _same_training(workdir, ide_reference) < 200


def _resume_step(workdir: Path) -> int:
    try:
        return int(torch.load(workdir / RESUME, weights_only=True)["step"])
    except Exception:
        return 0


def _wait_for_resume(workdir: Path, step: int, alive, timeout: float = 300) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        reached = _resume_step(workdir)
        if reached >= step:
            return reached
        assert alive(), "the training stage ended before it could be interrupted"
        time.sleep(0.05)
    raise AssertionError(f"no resume checkpoint at step {step} after {timeout} s")


@pytest.mark.slurm
def test_training_job_cancelled_on_slurm_is_resubmitted_and_resumes(ide_inputs, ide_reference, tmp_path, slurm):
    """`scancel` of the running training job: the profile's retry resubmits it, and it resumes."""
    workdir = _workdir(ide_inputs, tmp_path)
    cmd = [
        str(BIN / "snakemake"),
        CHECKPOINT,
        "--profile",
        "slurm",
        "--directory",
        str(workdir),
        *TEST_FLAGS,
        *tiny_demo.config_args(workdir, LONGER),
    ]
    env = dict(os.environ, PATH=f"{BIN}:{os.environ['PATH']}")
    proc = subprocess.Popen(
        ["timeout", "-s", "KILL", "400", *cmd],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    try:
        _wait_for_resume(workdir, 10, lambda: proc.poll() is None)
        running = run(["squeue", "-h", "-t", "RUNNING", "-o", "%i"]).stdout.split()
        assert len(running) == 1
        run(["scancel", running[0]])
        out, _ = proc.communicate(timeout=400)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, out[-5000:]
    finished = {job["JobId"]: job["JobState"] for job in slurm.finished_jobs()}
    assert finished[running[0]] == "CANCELLED"
    assert sum(state == "COMPLETED" for state in finished.values()) >= 1
    assert 10 <= _same_training(workdir, ide_reference) < 200
