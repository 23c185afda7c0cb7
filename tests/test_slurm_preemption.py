"""Preemption and time limits: a training job killed (SIGTERM, SIGKILL, Slurm scancel) and re-run resumes
from its last checkpoint and ends bit-identical to an uninterrupted run on CPU; a killed job leaves no
final output behind.

The job is tests/slurm_train_worker.py on the shared engine (terraflux.train.Engine), run as its own
process so that the signal comes from outside at an arbitrary moment (also while a checkpoint is written).
"""

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from slurm_cluster import run, slurm  # noqa: F401  (fixture)

WORKER = Path(__file__).with_name("slurm_train_worker.py")
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
    mine, ref = torch.load(out / "weights.pt", weights_only=True), torch.load(reference / "weights.pt", weights_only=True)
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


@pytest.mark.parametrize("signals", [(signal.SIGTERM,), (signal.SIGKILL,), (signal.SIGTERM, signal.SIGKILL)])
def test_killed_training_resumes_to_identical_weights_and_metrics(tmp_path, reference, signals):
    for n, sig in enumerate(signals):
        proc = subprocess.Popen([sys.executable, str(WORKER), str(tmp_path), "0.15"], stdout=subprocess.PIPE, text=True)
        try:
            at = _wait_for_step(tmp_path, 5 + 8 * n, lambda: proc.poll() is None)
            proc.send_signal(sig)
            assert proc.wait(timeout=30) == -sig
        finally:
            if proc.poll() is None:
                proc.kill()
        # partial outputs never look complete: only the rolling checkpoint exists
        assert not (tmp_path / "weights.pt").exists() and not (tmp_path / "metrics.json").exists()
        assert not list(tmp_path.glob("*.tmp*")) and not list(tmp_path.glob(".*weights*"))
        assert at <= _step(tmp_path) < STEPS
    rerun = subprocess.run([sys.executable, str(WORKER), str(tmp_path)], check=True, timeout=120, capture_output=True, text=True)
    resumed = int(rerun.stdout.split("resumed_from_step=")[1].split()[0])
    assert 5 + 8 * (len(signals) - 1) <= resumed < STEPS, rerun.stdout
    _assert_same_result(tmp_path, reference)


@pytest.mark.slurm
def test_slurm_job_cancelled_and_resubmitted_resumes_to_identical_result(tmp_path, reference, slurm):  # noqa: F811
    def submit() -> str:
        cmd = f"{sys.executable} {WORKER} {tmp_path} 0.15"
        return run(["sbatch", "--parsable", "--requeue", "-c", "1", "--mem", "1000", "-o", str(tmp_path / "slurm-%j.log"),
                    "--wrap", cmd]).stdout.strip()

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
