"""Multi-process (DDP) training for ``script:`` rules on the real test Slurm: config compute.train.tasks
-> resources tasks/mpi (job_resources) -> sbatch --ntasks=N -> the script's distributed.launch() execs
``srun -n N`` in the batch step -> N gloo processes of one job step, whose result matches one process.

The rule is a one-rule Snakefile that includes the workflow's common.smk (the real config validation and
job_resources) and runs tests/slurm_ddp_rule.py; the profile is the one users get (profiles/slurm).
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from conftest import BIN, REPO_ROOT
from slurm_cluster import run, slurm  # noqa: F401  (fixture)
from test_slurm import TEST_FLAGS, check_all_completed, submitted_jobs

HERE = Path(__file__).parent
SNAKEFILE = f"""
include: "{REPO_ROOT}/workflow/rules/common.smk"


rule ddp_train:
    output:
        weights="ddp.pt",
    log:
        "ddp.log",
    threads: job_threads("train")
    resources:
        **job_resources("train"),
    script:
        "{HERE}/slurm_ddp_rule.py"
"""
# the training rule's kind with N CPU processes (gloo); a GPU site sets gpus: N (tasks 0 = one per GPU)
CONFIG = "compute: {{train: {{threads: 1, mem_mb: 1000, runtime: 5, gpus: {gpus}, tasks: {tasks}}}}}\n"


def _workflow(folder: Path, gpus: int, tasks: int) -> list[str]:
    (folder / "Snakefile").write_text(SNAKEFILE)
    (folder / "config.yaml").write_text(CONFIG.format(gpus=gpus, tasks=tasks))
    return ["--snakefile", str(folder / "Snakefile"), "--directory", str(folder), "--configfile", str(folder / "config.yaml")]


def _env() -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLURM_", "MASTER_", "RANK", "WORLD_SIZE", "LOCAL_RANK"))}
    # single-node cluster: gloo on loopback (sbatch passes the environment on to the job)
    return dict(env, GLOO_SOCKET_IFNAME="lo", PYTHONUNBUFFERED="1", PATH=f"{BIN}:{env['PATH']}")


@pytest.fixture(scope="module")
def single(tmp_path_factory) -> dict:
    """The same training in one plain process (the reference)."""
    out = tmp_path_factory.mktemp("single") / "single.pt"
    subprocess.run([sys.executable, str(HERE / "slurm_ddp_worker.py"), str(out)], check=True, timeout=120, env=_env())
    return torch.load(out, weights_only=True)


@pytest.mark.slurm
def test_training_script_rule_runs_as_srun_tasks_matching_one_process(tmp_path, slurm, single):  # noqa: F811
    cmd = [str(BIN / "snakemake"), "--profile", "slurm", *_workflow(tmp_path, gpus=0, tasks=2), *TEST_FLAGS]
    done = run(cmd, timeout=240, check=False, cwd=REPO_ROOT, env=_env())
    assert done.returncode == 0, f"{done.stdout[-3000:]}\n{done.stderr[-6000:]}"
    jobs = submitted_jobs(done)
    assert list(jobs.values()) == ["ddp_train"]
    check_all_completed(slurm, jobs)
    job_id = next(iter(jobs))
    shown = slurm.show_job(job_id)
    assert shown["NumTasks"] == "2", shown  # sbatch --ntasks=2 from compute.train.tasks

    two = torch.load(tmp_path / "ddp.pt", weights_only=True)
    # two processes, both tasks of one srun job step inside the rule's own Slurm job
    assert two["world_size"] == 2
    (job_a, step_a, rank_a), (job_b, step_b, rank_b) = two["tasks"]
    assert str(job_a) == str(job_b) == job_id and step_a == step_b >= 0 and (rank_a, rank_b) == (0, 1)
    # same trajectory as one process; only the order of the gradient all-reduce sum differs (float
    # rounding), hence the tolerance (README, "Multi-GPU training")
    for name, weights in single["state"].items():
        torch.testing.assert_close(two["state"][name], weights, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(two["loss"], single["loss"], rtol=1e-5, atol=1e-6)
    assert "rank 1 done" in (tmp_path / "ddp.log.rank1").read_text()
    assert "rank 0 of 2" in (tmp_path / "ddp.log").read_text()


def test_tasks_outside_slurm_train_in_one_process(tmp_path, single):
    cmd = [str(BIN / "snakemake"), "--cores", "1", *_workflow(tmp_path, gpus=0, tasks=2)]
    done = run(cmd, timeout=120, check=False, cwd=tmp_path, env=_env())
    assert done.returncode == 0, done.stderr[-4000:]
    one = torch.load(tmp_path / "ddp.pt", weights_only=True)
    assert one["world_size"] == 1 and one["tasks"] == [[-1, -1, -1]]
    assert "not inside a Slurm job" in (tmp_path / "ddp.log").read_text()
    for name, weights in single["state"].items():
        assert torch.equal(one["state"][name], weights)


def test_tasks_must_match_gpus(tmp_path):
    done = run([str(BIN / "snakemake"), "-n", *_workflow(tmp_path, gpus=2, tasks=3)], timeout=120, check=False, env=_env())
    assert done.returncode != 0
    assert "compute.train.tasks is 3 but compute.train.gpus is 2" in done.stdout + done.stderr
