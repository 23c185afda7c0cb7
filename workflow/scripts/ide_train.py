"""Train one IDE model (dataset x backbone x codebook x seed index) with the shared engine; resumes after a kill.

Input:  resources/{run}/ide/{dataset}/dataset.zarr
Params: weeks (T), model (ide.model), train (ide.train), test_tile, seed (run.seed; derived per run and seed index).
Output: results/{run}/ide/{dataset}_{backbone}_{codebook}_seed{seed}/checkpoint.pt (weights, model config,
        variables, training summary with the per-epoch history; loads with torch.load(weights_only=True)) and
        training.json (the summary with provenance).
Several processes (config ``compute.train.gpus``/``tasks``, resources ``tasks``): launch.start starts this
script as N data-parallel srun tasks that train together; rank 0 writes the outputs and the rule's log, rank N
logs to ``<log>.rank<N>``.
"""

import terraflux  # noqa: F401  (first: native libraries in a safe order)
from terraflux import outputs
from terraflux.config import config_hash
from terraflux.ide.stages import TrainSettings, train
from terraflux.train import derive_seed, launch
from terraflux.workflow.provenance import from_snakemake
from terraflux.workflow.script import setup_logging

log = setup_logging(snakemake, log_path=launch.rank_log(snakemake.log[0]))
launch.start(snakemake)  # batch step of a multi-task job: exec srun -n N; in a task: returns
params = dict(snakemake.params.items())
wc = snakemake.wildcards
provenance = from_snakemake(snakemake, params=params)
same_results = {**params, "train": {k: v for k, v in params["train"].items() if k != "memory_gb"}}
with launch.session() as dist:
    summary = train(
        snakemake.input.dataset,
        snakemake.output.checkpoint,
        backbone=wc.backbone,
        codebook=wc.codebook,
        weeks=params["weeks"],
        model_params=params["model"],
        settings=TrainSettings.from_dict(params["train"], wc.dataset),
        seed=derive_seed(params["seed"], "ide_train", wc.dataset, wc.backbone, wc.codebook, wc.seed) % 2**32,
        threads=snakemake.threads,
        fingerprint=config_hash(same_results),  # resume after a change of the memory budget too
        tile=params["test_tile"],
        provenance=provenance,
        dist=dist,
    )
if dist.is_main:
    outputs.write_json(snakemake.output.summary, summary, provenance)
log.info(
    "trained %s %s seed %s on %s: %d steps", wc.backbone, wc.codebook, wc.seed, wc.dataset, summary["fit"]["steps"]
)
