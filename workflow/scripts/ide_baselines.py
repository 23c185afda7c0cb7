"""One IDE baseline on one dataset with true drivers: fitted on the training split, scored like the models.

Inputs: resources/{run}/ide/{dataset}/dataset.zarr; truth: the benchmark store, or in the synthetic world
        truth/extremes.zarr (ERA5-Land) and truth/extremes_cerra.zarr (CERRA) with the true drivers.
Params: method (ide.baselines.methods), weeks (T), baselines (ide.baselines), sampling (ide.train crop,
        batch_size, positive_fraction), memory_gb (ide.train.memory_gb), threshold (of the extremes
        probability), test_tile, seed.
Outputs: results/{run}/ide/baselines/{dataset}/{method}.json: the test split's metrics in the layout of the
         models' metrics.json (extremes; drivers pooled and per_variable), the validation split's under
         "val", method, label, fit summary, provenance.
"""

from pathlib import Path

import terraflux  # noqa: F401  (first: native libraries in a safe order)
from terraflux import outputs
from terraflux.ide.baselines import run
from terraflux.ide.dataset import truth_drivers
from terraflux.ide.windows import WindowData
from terraflux.train import derive_seed
from terraflux.workflow.provenance import from_snakemake
from terraflux.workflow.script import setup_logging

log = setup_logging(snakemake)
params = dict(snakemake.params.items())
wc = snakemake.wildcards
data = WindowData(snakemake.input.dataset, params["weeks"], memory_gb=params["memory_gb"])
truth, has_truth = truth_drivers(snakemake.input.truth, snakemake.input.dataset)
metrics = run(
    params["method"],
    data,
    truth,
    has_truth,
    settings=params["baselines"],
    sampling=params["sampling"],
    threshold=params["threshold"],
    tile=params["test_tile"],
    seed=derive_seed(params["seed"], "ide_baselines", params["method"]) % 2**32,
    threads=snakemake.threads,
    workdir=Path(snakemake.output.metrics).parent,
)
metrics["dataset"] = wc.dataset
outputs.write_json(snakemake.output.metrics, metrics, from_snakemake(snakemake, params=params))
val = metrics.get("val")  # absent when the validation split has no window
log.info(
    "%s on %s: drivers F1 %.4f (val %s), extremes F1 %.4f",
    metrics["label"],
    wc.dataset,
    metrics["drivers"]["pooled"]["f1"],
    f"{val['drivers']['pooled']['f1']:.4f}" if val else "no windows",
    metrics["extremes"]["f1"],
)
