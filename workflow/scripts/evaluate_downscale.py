"""Downscaling scores against the fine truth (terraflux.spatial.evaluation).

Inputs:  dataset, predictions (diffusion, unet)
Outputs: skill CSV (model, variable, season: RMSE, R2, ...), structure CSV (semivariogram range/sill/nugget
         ratios to the truth, D, ACF error), lead CSV (skill by lead after the training period), domain CSV
         (Wasserstein distances coarse vs fine per variable and season, before transfer), JSON (all of it,
         with CRPS of the diffusion ensemble and the fits), figures maps / structure / lead
"""

import terraflux  # noqa: F401
from terraflux import outputs
from terraflux.evaluate import figures
from terraflux.spatial.evaluation import evaluate
from terraflux.workflow.atomic import atomic_output
from terraflux.workflow.provenance import from_snakemake
from terraflux.workflow.script import setup_logging

log = setup_logging(snakemake)
params = snakemake.params
predictions = {"diffusion": snakemake.input.diffusion, "unet": snakemake.input.unet}
time_unit = "week" if "weekly" in params.fine else "day"
result = evaluate(snakemake.input.dataset, predictions, params.evaluate, time_unit)
for key in ("skill", "structure", "lead", "domain"):
    with atomic_output(snakemake.output[key]) as tmp:
        result[key].to_csv(tmp, index=False, float_format="%.4g")
    log.info("%s:\n%s", key, result[key].to_string())
figures.save(result["maps"], snakemake.output.maps)
figures.save(result["structure_figure"], snakemake.output.structure_figure)
figures.save(result["lead_figure"], snakemake.output.lead_figure)
payload = {key: result[key].to_dict(orient="records") for key in ("skill", "structure", "lead", "domain")}
payload.update(crps=result["crps"], fits=result["curves"])
outputs.write_json(snakemake.output.json, payload, from_snakemake(snakemake))
