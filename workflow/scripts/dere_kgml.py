"""DERE comparison model KGML: one backbone pretrained on the age-weighted process output with the physics loss,
then fine-tuned on in-situ data.

Input: ``dataset``. Outputs: ``checkpoint`` {"state": {"net": state dict}}, ``predictions`` parquet (as Baseline),
``metrics`` JSON (RMSE, MAE, R2, NSE, bias per flux at the held-out test sites: all, per network, per IGBP; fits of
pretraining and fine-tuning). Runs as the rule's data-parallel processes (see
:func:`terraflux.dere.io.run_training_stage`).
"""

import terraflux  # noqa: F401
from terraflux.dere import stages
from terraflux.dere.io import run_training_stage

run_training_stage(
    snakemake,
    "kgml",
    lambda run: stages.kgml(run.data, run.cfg, run.ctx),
    lambda run, result: run.write_in_situ("kgml", result, {}),
)
