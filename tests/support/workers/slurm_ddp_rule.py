"""Script of the test rule ``ddp_train`` (tests/test_slurm_ddp_rule.py): a training ``script:`` rule as
workflow scripts write one, run as N data-parallel processes through :func:`launch.start`.

Output: ``snakemake.output.weights`` (slurm_ddp_worker.py's trained weights, loss, world size and
each rank's [job id, step id, task id], written by rank 0). Log: the rule's log (rank 0), ``.rank<N>``.
"""

import os
import sys

import terraflux  # noqa: F401  (native libraries in a safe order)
from terraflux.train import launch
from terraflux.workflow.script import setup_logging

log = setup_logging(snakemake, log_path=launch.rank_log(snakemake.log[0]))  # noqa: F821
dist = launch.start(snakemake)  # noqa: F821  (in the batch step: exec srun -n N; in each task: returns)
sys.path.insert(0, snakemake.scriptdir)  # noqa: F821
from slurm_ddp_worker import main  # noqa: E402

log.info("rank %d of %d (job step %s)", dist.rank, dist.world_size, os.environ.get("SLURM_STEP_ID"))
main(snakemake.output.weights)  # noqa: F821
log.info("rank %d done", dist.rank)
