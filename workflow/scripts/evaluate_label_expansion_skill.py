"""DERE skill per label set: step 4 (observations only) against step 6 trained on the CSDI expanded labels
and step 6 trained on the kriging label set, at the held-out sites over the test years.

Inputs:  predictions  results/{run}/dere/{step4,step6,step6_kriging}/predictions.parquet (site_id, time, split,
                      GPP, RECO, NEE in gC m-2 d-1), in the order of params.label_sets
         insitu       resources/{run}/prepared/insitu_monthly.parquet (observed monthly fluxes)
         sites        resources/{run}/prepared/sites.parquet (network, igbp)
         truth_fluxes, truth_sites  resources/{run}/truth/... (synthetic world only: true fluxes per cell)
Outputs: table   results/{run}/evaluate/label_expansion_skill.csv: one row per (reference, label_set, variable)
                 over all held-out sites: n, n_sites, rmse, mae, bias (gC m-2 d-1), r2, nse (1), anomaly skill
                 (anom_*), and the change of RMSE against step 4 (d_rmse, gC m-2 d-1; negative = better)
         figure  results/{run}/evaluate/label_expansion_skill.png (RMSE, R2 and NSE per flux and label set)
"""

import terraflux  # noqa: F401
from terraflux.evaluate import figures
from terraflux.evaluate.inputs import FLUX_UNITS, site_pairs, truth_pairs
from terraflux.metrics import skill_table
from terraflux.workflow.atomic import atomic_output
from terraflux.workflow.script import setup_logging

import pandas as pd

log = setup_logging(snakemake)
params = snakemake.params
models = dict(zip(params.label_sets, snakemake.input.predictions, strict=True))
pairs = site_pairs(models, snakemake.input.insitu, snakemake.input.sites, years=params.period["test_years"])
tables = [skill_table(pairs, groups=()).assign(reference="in-situ")]
if "truth_fluxes" in snakemake.input.keys():
    tables.append(
        skill_table(truth_pairs(pairs, snakemake.input.truth_fluxes, snakemake.input.truth_sites), groups=()).assign(
            reference="truth"
        )
    )
table = (
    pd.concat(tables, ignore_index=True).rename(columns={"model": "label_set"}).drop(columns=["group", "group_value"])
)
reference_rmse = table[table["label_set"] == params.label_sets[0]].set_index(["reference", "variable"])["rmse"]
table["d_rmse"] = (
    table["rmse"].to_numpy()
    - reference_rmse.reindex(pd.MultiIndex.from_frame(table[["reference", "variable"]])).to_numpy()
)
table = table[["reference", "label_set"] + [c for c in table.columns if c not in ("reference", "label_set")]]
with atomic_output(snakemake.output.table) as tmp:
    table.to_csv(tmp, index=False, float_format="%.4g")
years = ", ".join(str(y) for y in params.period["test_years"])
insitu = table[table["reference"] == "in-situ"].rename(columns={"label_set": "model"}).assign(group="all")
fig = figures.skill_bars(
    insitu,
    metrics=[("rmse", "RMSE ({units})"), ("r2", "R² (1)"), ("nse", "NSE (1)")],
    units=FLUX_UNITS,
    title=f"DERE skill per label set at held-out sites against in-situ fluxes, test years {years}",
)
figures.save(fig, snakemake.output.figure)
nee = table[table["variable"] == "NEE"].set_index(["reference", "label_set"])["rmse"]
log.info("NEE RMSE per label set (gC m-2 d-1): %s", nee.round(4).to_dict())
