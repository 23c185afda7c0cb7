"""Run under ``srun -n N``: dask-jobqueue's SLURMRunner via terraflux.dask_cluster (mode slurm).

Usage: srun -n 3 python slurm_dask_worker.py SCHEDULER_FILE OUT_JSON
"""

import json
import sys

import terraflux  # noqa: F401  (native libraries in a safe order)
import dask.array as da

from terraflux.dask_cluster import dask_client

with dask_client(1, 1000, mode="slurm", scheduler_file=sys.argv[1]) as client:
    workers = client.scheduler_info()["workers"]
    total = float(da.arange(1000 * 1000, chunks=100_000).sum().compute())
    with open(sys.argv[2], "w") as out:
        json.dump({"workers": len(workers), "threads": [w["nthreads"] for w in workers.values()], "total": total}, out)
