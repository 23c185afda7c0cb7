"""Dask for preparation jobs: a local cluster sized from the rule's threads and memory, and the multi-node
option (dask-jobqueue SLURMRunner) started by a real ``srun`` on the test Slurm."""

import json
import sys
from pathlib import Path

import dask.array as da
import pytest

from support.slurm_cluster import run
from terraflux.dask_cluster import RESERVE_MB, dask_client, sizing

WORKER = Path(__file__).with_name("slurm_dask_worker.py")


def test_sizing_follows_threads_and_memory():
    size = sizing(1, 4000)
    assert (size.workers, size.threads_per_worker, size.memory_per_worker_mb) == (1, 1, 4000 - RESERVE_MB)
    two = sizing(2, 4500, max_workers=2)
    assert two.workers <= 2 and two.workers * two.memory_per_worker_mb <= 4500 - RESERVE_MB
    assert sizing(64, 8000).workers <= len(__import__("os").sched_getaffinity(0))
    with pytest.raises(ValueError, match="threads >= 1"):
        sizing(0, 1000)


def test_local_cluster_has_the_sized_workers_and_computes():
    with dask_client(1, 1500) as client:
        workers = client.scheduler_info()["workers"].values()
        assert [w["nthreads"] for w in workers] == [1]
        assert [w["memory_limit"] for w in workers] == [(1500 - RESERVE_MB) * 10**6]
        assert float(da.arange(10**6, chunks=10**5).sum().compute()) == float(sum(range(10**6)))
    with pytest.raises(ValueError, match="'local' or 'slurm'"):
        with dask_client(1, 1000, mode="kubernetes"):
            pass


@pytest.mark.slurm
def test_slurm_runner_under_srun_schedules_client_and_worker(tmp_path, slurm):
    # 3 tasks: scheduler, client, one worker (--overcommit: the test node has fewer CPUs than tasks)
    out = tmp_path / "result.json"
    cmd = ["srun", "-n", "3", "--overcommit", "--mem", "1500", "-t", "5", sys.executable, str(WORKER), str(tmp_path / "scheduler.json"), str(out)]
    done = run(cmd, timeout=120, check=False, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(out.read_text())
    assert result == {"workers": 1, "threads": [1], "total": float(sum(range(10**6)))}
