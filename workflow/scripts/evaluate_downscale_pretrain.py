"""Downstream skill of each encoder pretraining option (terraflux.spatial.evaluation.pretrain_table).

Inputs:  dataset, predictions (one per option of params.options: diffusion reconstructions)
Output:  table  results/{run}/evaluate/downscale_pretrain.csv: per option and variable on the test years,
                RMSE, R2 and CRPS of the diffusion ensemble (fine units) and the semivariogram range / sill
                ratios and distance D of one member against the truth
"""

import terraflux  # noqa: F401
from terraflux.spatial.evaluation import pretrain_table
from terraflux.workflow.atomic import atomic_output
from terraflux.workflow.script import setup_logging

log = setup_logging(snakemake)
params = snakemake.params
table = pretrain_table(
    snakemake.input.dataset, dict(zip(params.options, snakemake.input.predictions, strict=True)), params.evaluate
)
log.info("pretraining options:\n%s", table.to_string())
with atomic_output(snakemake.output.table) as tmp:
    table.to_csv(tmp, index=False, float_format="%.4g")
