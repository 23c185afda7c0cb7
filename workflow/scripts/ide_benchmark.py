"""Write the IDE synthetic benchmark with ground-truth drivers (seeded, streaming, float32).

Params: benchmark (config ide.benchmark), seed (run.seed; the stage seed is derived from it).
Output: resources/{run}/ide/benchmark.zarr

| variable | dims | units | meaning |
|---|---|---|---|
| data | variable, time, y, x | 1 | base signal + noise + anomalies (float32) |
| extreme | time, y, x | bool | extreme events |
| driver | variable, time, y, x | bool | ground-truth driver anomalies |
| distractor | variable, time, y, x | bool | anomalies unrelated to extremes |
| coupled | variable | bool | whether a variable has drivers |
| valid | y, x | bool | all true |

Coordinates: time (week index), week (1..52), year, split (0/1/2 = train/val/test). Attributes: the
benchmark config, the drawn design (coupling offsets, noise types) and provenance.
"""

import terraflux  # noqa: F401  (first: native libraries in a safe order)
from terraflux.ide.benchmark import BenchmarkConfig, write_benchmark
from terraflux.train import derive_seed
from terraflux.workflow.atomic import atomic_output
from terraflux.workflow.provenance import from_snakemake
from terraflux.workflow.script import setup_logging

log = setup_logging(snakemake)
params = dict(snakemake.params.items())
cfg = BenchmarkConfig.from_dict(params["benchmark"], seed=derive_seed(params["seed"], "ide_benchmark") % 2**32)
with atomic_output(snakemake.output.store) as tmp:
    design = write_benchmark(cfg, tmp, attrs={"provenance": from_snakemake(snakemake, params=params)})
log.info("wrote %s: %s", snakemake.output.store, design.describe())
