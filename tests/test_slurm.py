"""The workflow on a real single-node Slurm, as a cluster user runs it: ``snakemake --profile slurm`` from
the repository root (./slurm -> profiles/slurm), outputs in a scratch working directory.

Checked: every submitted job completed (Slurm's job-completion log); GPU stages were submitted with a GPU
request (``--gpus`` / ``--gres``: Slurm's ``TresPerJob`` / ``TresPerNode``) and CPU stages without; local
rules (downloads with compute.local_downloads, the run manifest) never reach Slurm; DDP training processes
started by a real ``srun -n 2``.

The test command adds only what a site without accounting needs (``--slurm-status-command squeue``) and
short polling/latency values; everything else comes from the profile users get.
"""

import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from support import tiny_demo
from support.configs import configfile_args
from support.paths import BIN, REPO_ROOT, WORKERS
from support.prepared import assert_same_stores
from support.slurm_cluster import TEST_FLAGS, check_all_completed, run, submitted_jobs
from support.workflow import snakemake

pytestmark = pytest.mark.slurm


def profile_run(
    workdir: Path, targets: list[str], *args: str, timeout: int = 420, env: dict | None = None
) -> subprocess.CompletedProcess:
    """``snakemake TARGETS --profile slurm`` from the repository root, outputs under ``workdir`` (hard timeout)."""
    cmd = [str(BIN / "snakemake"), *targets, "--profile", "slurm", "--directory", str(workdir), *TEST_FLAGS, *args]
    environment = dict(os.environ if env is None else env, PYTHONUNBUFFERED="1", PATH=f"{BIN}:{os.environ['PATH']}")
    done = run(cmd, timeout=timeout, check=False, cwd=REPO_ROOT, env=environment)
    assert done.returncode == 0, (
        f"snakemake --profile slurm failed ({done.returncode}):\n{done.stdout[-3000:]}\n{done.stderr[-8000:]}"
    )
    return done


def gpu_request(job: dict[str, str]) -> str | None:
    """The GPU part of a job's request as Slurm recorded it (None: no GPU asked for)."""
    for key in ("TresPerJob", "TresPerNode", "TresPerTask", "TresPerSocket"):
        if "gpu" in job.get(key, ""):
            return f"{key}={job[key]}"
    return None


# ----------------------------------------------------------------------------- downloads stay local
# the download test config with the downloads run locally or submitted
DOWNLOAD_COMPUTE = "compute: {{local_downloads: {local}, download: {{mem_mb: 500, runtime: 5}}}}\n"


@pytest.mark.parametrize("local", [True, False])
def test_downloads_run_on_the_submitting_node_unless_configured(tmp_path, slurm, local):
    fake_cds = pytest.importorskip("support.fake_cds")
    config = configfile_args("download", tmp_path, DOWNLOAD_COMPUTE.format(local=str(local).lower()))
    from terraflux.sources import era5_land
    from terraflux.workflow.paths import RunPaths

    target = RunPaths("dl").raw(era5_land.raw_path("hourly", 2016, 1))
    with fake_cds.FakeCDS() as cds:
        env = dict(os.environ, CDSAPI_URL=cds.url, CDSAPI_KEY=cds.token, CDSAPI_RC=str(tmp_path / "no-cdsapirc"))
        done = profile_run(tmp_path, [target], *config, env=env)
    assert (tmp_path / target).stat().st_size > 0
    jobs = submitted_jobs(done)
    if local:
        assert "localrule download_era5_land_hourly" in done.stdout + done.stderr
        assert "download_era5_land_hourly" not in jobs.values()
    else:
        assert list(jobs.values()) == ["download_era5_land_hourly"]
        check_all_completed(slurm, jobs)
        assert gpu_request(slurm.show_job(next(iter(jobs)))) is None


# ----------------------------------------------------------------------------- DDP under a real srun
def test_ddp_processes_started_by_srun_match_one_process(tmp_path, slurm):
    """2 srun tasks train bitwise like one process summing the losses of the same 2 parts of every batch
    (tests/test_slurm_ddp.py says why that comparison is exact)."""
    worker = WORKERS / "slurm_ddp_worker.py"
    parts = tmp_path / "parts.pt"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLURM_", "MASTER_", "RANK", "WORLD_SIZE"))}
    env["GLOO_SOCKET_IFNAME"] = "lo"  # a single-node cluster: loopback
    env["OMP_NUM_THREADS"] = "1"
    subprocess.run([sys.executable, str(worker), str(parts), "--parts", "2"], check=True, timeout=120, env=env)
    # A port known to be free on this machine (the default derives one from the job id, which on a shared
    # test machine may be taken).
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        env["MASTER_PORT"] = str(probe.getsockname()[1])
    # what a rule with resources tasks=2, mpi="srun" runs inside its job: {resources.mpi} -n {resources.tasks} ...
    done = run(
        [
            "srun",
            "-n",
            "2",
            "--overcommit",
            "--mem",
            "2000",
            "-t",
            "5",
            sys.executable,
            str(worker),
            str(tmp_path / "ddp.pt"),
        ],
        timeout=180,
        check=False,
        cwd=tmp_path,
        env=env,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    one, two = torch.load(parts, weights_only=True), torch.load(tmp_path / "ddp.pt", weights_only=True)
    assert two["world_size"] == 2 and torch.equal(two["ranks"][0], two["ranks"][1])
    for name, weights in one["state"].items():
        assert torch.equal(two["state"][name], weights), name


# ----------------------------------------------------------------------------- the workflow on Slurm
def test_workflow_on_slurm_gpu_stages_ask_for_a_gpu_cpu_stages_do_not(tmp_path, slurm):
    done = profile_run(tmp_path, tiny_demo.TARGETS, *tiny_demo.config_args(tmp_path))
    jobs = submitted_jobs(done)
    assert set(jobs.values()) == tiny_demo.GPU_RULES | tiny_demo.CPU_RULES, done.stdout[-3000:]
    check_all_completed(slurm, jobs)
    for job_id, rule in jobs.items():
        request = gpu_request(slurm.show_job(job_id))
        if rule in tiny_demo.GPU_RULES:
            assert request == "TresPerJob=gres:gpu:1", (rule, request)  # sbatch --gpus=1
        else:
            assert request is None, (rule, request)
    for rule in tiny_demo.LOCAL_RULES:
        assert f"localrule {rule}:" in done.stdout + done.stderr
    for target in tiny_demo.TARGETS:
        assert (tmp_path / target).stat().st_size > 0

    # sites that reject --gpus: compute.gpu_request gres -> sbatch --gres=gpu:1 (never both)
    args = tiny_demo.config_args(tmp_path, "compute: {gpu_request: gres}\n")
    done = profile_run(tmp_path, [f"{tiny_demo.IDE}/checkpoint.pt"], *args, "--forcerun", "ide_train")
    jobs = submitted_jobs(done)
    assert list(jobs.values()) == ["ide_train"]
    check_all_completed(slurm, jobs)
    for job_id in jobs:
        shown = slurm.show_job(job_id)
        assert gpu_request(shown) == "TresPerNode=gres:gpu:1" and "TresPerJob" not in shown


# ----------------------------------------------------------------------------- preparation in parts
def test_preparation_in_parts_runs_as_slurm_jobs_and_equals_the_one_job_build(tmp_path, slurm):
    """prepare.part_years: 1 under --profile slurm: init, one part per year and finalise are separate Slurm jobs
    that all complete, and the stores equal the one-job build (made locally from the same raw files)."""
    stores = [f"era5_land_{k}.zarr" for k in ("daily", "weekly", "monthly")]
    prepared = "resources/small/prepared"
    one_job = tmp_path / "one-job"
    snakemake("--cores", "2", *[f"{prepared}/{s}" for s in stores], *configfile_args("prepare_small"), workdir=one_job)
    parts = tmp_path / "parts"
    for folder in ("raw", "synthetic"):  # the same raw files, mtimes kept: nothing upstream reruns
        shutil.copytree(one_job / "resources/small" / folder, parts / "resources/small" / folder, symlinks=True)
    config = configfile_args("prepare_small", tmp_path, extra="prepare: {part_years: 1}\n")
    done = profile_run(parts, [f"{prepared}/{s}" for s in stores], *config)
    jobs = submitted_jobs(done)
    assert sorted(jobs.values()) == sorted(
        ["prepare_era5_land_init", "prepare_era5_land_part", "prepare_era5_land_part", "prepare_era5_land_finalise"]
    ), done.stdout[-3000:]
    check_all_completed(slurm, jobs)
    assert_same_stores(one_job / prepared, parts / prepared, stores)
