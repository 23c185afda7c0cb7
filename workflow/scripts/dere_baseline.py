"""DERE comparison model Baseline: one backbone trained on in-situ data only (all networks).

Input: ``dataset``. Outputs: ``checkpoint`` {"state": {"net": state dict}}, ``predictions`` parquet (site_id, time,
model, split, network, igbp, GPP/RECO/NEE predicted and GPP_observed/..., gC m-2 d-1), ``metrics`` JSON (RMSE, MAE,
R2, NSE, bias per flux at the held-out test sites: all, per network, per IGBP; fit). Runs as the rule's
data-parallel processes (see :func:`terraflux.dere.io.run_training_stage`).
"""

import terraflux  # noqa: F401
from terraflux.dere import stages
from terraflux.dere.io import run_training_stage

run_training_stage(
    snakemake,
    "baseline",
    lambda run: stages.baseline(run.data, run.cfg, run.ctx),
    lambda run, result: run.write_in_situ("baseline", result, {}),
)
