"""Multi-process training for ``script:`` rules on the real test Slurm: config compute.train.tasks
-> resources tasks/mpi (job_resources) -> sbatch --ntasks=N -> the script's launch.start() execs
``srun -n N`` in the batch step -> N gloo processes of one job step, whose result matches one process.

The rule is a one-rule Snakefile that includes the workflow's common.smk (the real config validation and
job_resources) and runs tests/slurm_ddp_rule.py; the profile is the one users get (profiles/slurm).
A real training rule too: the workflow's ``dere_step3a`` with ``compute.train.tasks: 2`` against the same rule
run as one process.
"""

import json
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from support.configs import configfile_args
from support.dere_world import make_prepared
from support.paths import BIN, REPO_ROOT, WORKERS
from support.slurm_cluster import TEST_FLAGS, check_all_completed, run, submitted_jobs

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
        "{WORKERS}/slurm_ddp_rule.py"
"""
# the training rule's kind with N CPU processes (gloo); a GPU site sets gpus: N (tasks 0 = one per GPU)
CONFIG = "compute: {{train: {{threads: 1, mem_mb: 1000, runtime: 5, gpus: {gpus}, tasks: {tasks}}}}}\n"


def _workflow(folder: Path, gpus: int, tasks: int) -> list[str]:
    (folder / "Snakefile").write_text(SNAKEFILE)
    (folder / "config.yaml").write_text(CONFIG.format(gpus=gpus, tasks=tasks))
    return [
        "--snakefile",
        str(folder / "Snakefile"),
        "--directory",
        str(folder),
        "--configfile",
        str(folder / "config.yaml"),
    ]


def _env() -> dict:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("SLURM_", "MASTER_", "RANK", "WORLD_SIZE", "LOCAL_RANK"))
    }
    # single-node cluster: gloo on loopback (sbatch passes the environment on to the job)
    return dict(env, GLOO_SOCKET_IFNAME="lo", PYTHONUNBUFFERED="1", PATH=f"{BIN}:{env['PATH']}")


def _worker(out: Path, *args: str) -> dict:
    subprocess.run(
        [sys.executable, str(WORKERS / "slurm_ddp_worker.py"), str(out), *args], check=True, timeout=120, env=_env()
    )
    return torch.load(out, weights_only=True)


@pytest.fixture(scope="module")
def single(tmp_path_factory) -> dict:
    """The same training in one plain process."""
    return _worker(tmp_path_factory.mktemp("single") / "single.pt")


@pytest.fixture(scope="module")
def two_parts(tmp_path_factory) -> dict:
    """One process summing the losses of the 2 parts of every batch that 2 ranks would train on."""
    return _worker(tmp_path_factory.mktemp("parts") / "parts.pt", "--parts", "2")


@pytest.mark.slurm
def test_training_script_rule_runs_as_srun_tasks_matching_one_process(tmp_path, slurm, two_parts):
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
    # bitwise the training of one process summing the 2 parts' losses (tests/test_slurm_ddp.py says why exact)
    assert torch.equal(two["ranks"][0], two["ranks"][1])
    for name, weights in two_parts["state"].items():
        assert torch.equal(two["state"][name], weights), name
    assert "rank 1 done" in (tmp_path / "ddp.log.rank1").read_text()
    assert "rank 0 of 2" in (tmp_path / "ddp.log").read_text()


@pytest.mark.slow
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
    done = run(
        [str(BIN / "snakemake"), "-n", *_workflow(tmp_path, gpus=2, tasks=3)], timeout=120, check=False, env=_env()
    )
    assert done.returncode != 0
    assert "'compute.train.tasks' is 3 but 'compute.train.gpus' is 2" in done.stdout + done.stderr


def adam_step_bound(t: int, beta1: float = 0.9, beta2: float = 0.999) -> float:
    """The largest |m_hat / (sqrt(v_hat) + eps)| of Adam's step t (1-based) over all gradient sequences.

    With m_t = (1 - b1) sum_k b1^(t-k) g_k and v_t = (1 - b2) sum_k b2^(t-k) g_k^2, Cauchy-Schwarz gives
    |m_t| <= (1 - b1) sqrt(sum_j<t (b1^2 / b2)^j) sqrt(v_t / (1 - b2)); bias correction and eps >= 0 as in
    torch.optim.Adam (Kingma & Ba, "Adam: a method for stochastic optimization", ICLR 2015).
    """
    r = beta1**2 / beta2
    return (1 - beta1) / (1 - beta1**t) * math.sqrt((1 - beta2**t) / (1 - beta2)) * math.sqrt((1 - r**t) / (1 - r))


# the smallest real DERE training rule (step 3a, the PFT model) on the tiny prepared world of the DERE tests
DERE_TARGET = "results/tiny/dere/step3a/checkpoint.pt"


def _dere_config(folder: Path, tasks: int) -> list[str]:
    compute = CONFIG.format(gpus=0, tasks=tasks)
    return [
        "--snakefile",
        str(REPO_ROOT / "Snakefile"),
        "--directory",
        str(folder),
        *configfile_args("dere_step3a", folder, compute),
    ]


@pytest.mark.slurm
def test_dere_training_rule_runs_as_two_srun_tasks_matching_one_process(tmp_path, slurm):
    make_prepared(tmp_path / "resources" / "tiny" / "prepared", ny=4, nx=5, years=(2016, 2017), n_sites=10)
    # the reference: dataset and step 3a in one process, here (not on Slurm)
    rules = ["--allowed-rules", "simulate_process_model", "dere_dataset", "dere_step3a"]
    done = run(
        [str(BIN / "snakemake"), "--cores", "2", *_dere_config(tmp_path, 1), *rules, "--", DERE_TARGET],
        timeout=300,
        check=False,
        env=_env(),
    )
    assert done.returncode == 0, done.stderr[-4000:]
    step = tmp_path / "results" / "tiny" / "dere" / "step3a"
    shutil.move(step, tmp_path / "single")  # with its resume checkpoint: the Slurm run must train afresh
    single = torch.load(tmp_path / "single" / "checkpoint.pt", weights_only=True)["state"]["pft"]

    cmd = [
        str(BIN / "snakemake"),
        "--profile",
        "slurm",
        *_dere_config(tmp_path, 2),
        "--allowed-rules",
        "dere_step3a",
        *TEST_FLAGS,
        "--",
        DERE_TARGET,
    ]
    done = run(cmd, timeout=240, check=False, cwd=REPO_ROOT, env=_env())
    assert done.returncode == 0, f"{done.stdout[-3000:]}\n{done.stderr[-6000:]}"
    jobs = submitted_jobs(done)
    assert list(jobs.values()) == ["dere_step3a"]
    check_all_completed(slurm, jobs)
    assert slurm.show_job(next(iter(jobs)))["NumTasks"] == "2"

    logs = tmp_path / "logs" / "tiny"
    rank0, rank1 = (logs / "dere_step3a.log").read_text(), (logs / "dere_step3a.log.rank1").read_text()
    for text in (rank0, rank1):  # both ranks trained (no resume), in the same 2-process group
        assert "step3a: best val" in text and "resuming from" not in text
    two = torch.load(step / "checkpoint.pt", weights_only=True)
    assert two["provenance"]["rule"] == "dere_step3a"
    one_fit = json.loads((tmp_path / "single" / "metrics.json").read_text())["fit"]
    two_fit = json.loads((step / "metrics.json").read_text())["fit"]
    assert one_fit["steps"] == two_fit["steps"] > 0
    assert [h.keys() for h in one_fit["history"]] == [h.keys() for h in two_fit["history"]]

    # In float32 the two runs differ by the order of the sums across ranks, which Adam amplifies on weights whose
    # gradient is rounding noise, so they cannot be compared weight by weight within a rounding bound
    # (tests/test_train_ddp_stage.py compares this stage in float64 instead). What holds here is Adam's bound on
    # each step: every weight moves by at most lr_t x adam_step_bound(t) at step t, so two runs from the same
    # start are at most the sum of both runs' steps apart, up to the end of each run's best epoch.
    def travelled(fit: dict) -> float:
        per_epoch = fit["steps"] // len(fit["history"])
        lrs = [h["lr"] for h in fit["history"][: fit["best_epoch"] + 1] for _ in range(per_epoch)]
        return sum(lr * adam_step_bound(t) for t, lr in enumerate(lrs, start=1))

    buffers = ("running_mean", "running_var", "num_batches_tracked")  # batch-norm statistics, not trained by Adam
    weights = [k for k, v in single.items() if v.is_floating_point() and not k.endswith(buffers)]
    diff = torch.cat([(two["state"]["pft"][k] - single[k]).abs().flatten() for k in weights])
    print(
        f"dere_step3a, 2 srun tasks vs 1 process: weight difference max {float(diff.max()):.1e}, "
        f"median {float(diff.median()):.1e}"
    )
    assert float(diff.max()) <= travelled(one_fit) + travelled(two_fit)
    assert [p.name for p in (step / ".resume").iterdir()] == ["step3a.pt"]  # rank 0 alone wrote it
