"""Teardown of the test Slurm leaves nothing of its jobs behind: not the tasks of a job step whose srun
client was killed (what a timed-out test does), not a process that daemonised out of Slurm's tracking
while holding a port (as a DDP rendezvous does), not the step daemons; other processes survive; and
Slurm clients asking the stopped cluster fail at once instead of retrying for 9 s."""

import socket
import subprocess
import sys
import time

import pytest

from support import slurm_cluster
from support.slurm_cluster import STATE, _alive, cluster_processes, run

pytestmark = pytest.mark.slurm

# Each task listens on a port (reported in a file) and starts a grandchild that leaves the process tree
# (setsid + double fork: reparented to init, out of proctrack/linuxproc's reach) and keeps the port's
# socket open, like a rendezvous store left behind.
TASK = r"""
import os, socket, sys, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(("127.0.0.1", 0)); s.listen()
port = s.getsockname()[1]
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        open(f"{sys.argv[1]}/port-{os.environ['SLURM_PROCID']}-{port}", "w").close()
        time.sleep(600)
    os._exit(0)
time.sleep(600)
"""


def _ports(folder) -> list[int]:
    return [int(path.name.rsplit("-", 1)[1]) for path in folder.glob("port-*")]


def _port_free(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def test_stop_kills_every_job_process_even_escaped_ones(tmp_path, slurm):
    (tmp_path / "task.py").write_text(TASK)
    bystander = subprocess.Popen(["sleep", "300"])  # not the cluster's: must survive
    cluster = slurm
    try:
        # a step of a batch job (as the workflow's jobs run) and a step started directly by srun
        run(
            [
                "sbatch",
                "-n",
                "2",
                "--overcommit",
                "--mem",
                "500",
                "-t",
                "5",
                "-o",
                str(tmp_path / "job.log"),
                "--wrap",
                f"srun -n 2 {sys.executable} {tmp_path / 'task.py'} {tmp_path}",
            ]
        )
        client = subprocess.Popen(
            ["srun", "-n", "1", "--mem", "500", "-t", "5", sys.executable, str(tmp_path / "task.py"), str(tmp_path)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 60
        while len(_ports(tmp_path)) < 3 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert len(_ports(tmp_path)) == 3, (
            (tmp_path / "job.log").read_text() if (tmp_path / "job.log").exists() else "no job log"
        )
        assert not any(_port_free(port) for port in _ports(tmp_path))
        client.kill()  # the test timed out: its srun client is gone, the step is not
        client.wait()
        jobs = cluster_processes()
        assert len(jobs) >= 6, jobs  # 3 tasks, 3 escaped grandchildren, step daemons, the batch script...
    finally:
        slurm_cluster.take_down()  # what the end of the session does: stop()
    try:
        assert cluster_processes() == []
        assert not any(_alive(pid) for pid in jobs)
        assert all(_port_free(port) for port in _ports(tmp_path))
        assert bystander.poll() is None
        assert not any(_alive(cluster._pid(d)) for d in ("slurmd", "slurmctld", "munged"))
        # a client asking the stopped cluster fails at once (snakemake's Slurm plugin asks at every start)
        start = time.monotonic()
        assert run(["scontrol", "show", "config"], check=False, timeout=30).returncode != 0
        assert time.monotonic() - start < 3
    finally:
        bystander.kill()
        bystander.wait()
    assert STATE.exists()  # logs kept for a post-mortem
