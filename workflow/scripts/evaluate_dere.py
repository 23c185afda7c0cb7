"""Skill of the models of the DERE comparison table (DERE step 4 and step 6, each backbone as Baseline and KGML)
at held-out sites.

Inputs:  predictions  results/{run}/dere/<stage>/predictions.parquet and
                      results/{run}/dere/compare/<backbone>/<variant>/predictions.parquet (site_id, time, GPP,
                      RECO, NEE, [split]), labelled by ``params.models`` in order
         insitu       resources/{run}/prepared/insitu_monthly.parquet (observed monthly fluxes)
         sites        resources/{run}/prepared/sites.parquet (network, igbp)
         truth_fluxes, truth_sites  resources/{run}/truth/... (synthetic world only: true fluxes per cell)
         maps         results/{run}/dere/<model>/predictions.zarr of evaluate.dere_models, labelled by
                      ``params.map_labels`` (synthetic world only: scored against the block-averaged truth at
                      every held-out (test) cell)
Outputs: table   results/{run}/evaluate/dere_skill.csv: one row per (reference, model, variable, group,
                 group_value) with n, n_sites, rmse, mae, bias (gC m-2 d-1), r2, nse (1) and the same for
                 monthly anomalies (anom_*; anomalies from each site's mean seasonal cycle, NaN where a site
                 has one value per calendar month); reference
                 'in-situ', and in the synthetic world 'truth' (true flux at the held-out sites' cells) and
                 'truth (held-out cells)' (every test cell of the maps, group 'all' only; the acceptance
                 metric of DERE: GPP R2 >= 0.7)
         figure  results/{run}/evaluate/dere_skill.png (overall skill per variable and model; the anomaly R2
                 panel only where it can be computed)
         groups  results/{run}/evaluate/dere_skill_groups.png (NSE per IGBP class and per network)
         json    results/{run}/evaluate/dere_skill.json (the overall rows, provenance)
"""

import terraflux  # noqa: F401
from terraflux import outputs
from terraflux.evaluate import figures
from terraflux.evaluate.inputs import FLUX_UNITS, cell_truth_pairs, site_pairs, truth_pairs
from terraflux.metrics import skill_table
from terraflux.workflow.atomic import atomic_output
from terraflux.workflow.provenance import from_snakemake
from terraflux.workflow.script import setup_logging

import pandas as pd

log = setup_logging(snakemake)
params = snakemake.params
models = dict(zip(params.models, snakemake.input.predictions, strict=True))
pairs = site_pairs(models, snakemake.input.insitu, snakemake.input.sites, years=params.period["test_years"])
tables = [skill_table(pairs).assign(reference="in-situ")]
if "truth_fluxes" in snakemake.input.keys():
    tables.append(
        skill_table(truth_pairs(pairs, snakemake.input.truth_fluxes, snakemake.input.truth_sites)).assign(
            reference="truth"
        )
    )
if "maps" in snakemake.input.keys():
    maps = dict(zip(params.map_labels, snakemake.input.maps, strict=True))
    cells = cell_truth_pairs(maps, snakemake.input.truth_fluxes, split="test", years=params.period["test_years"])
    tables.append(skill_table(cells, groups=()).assign(reference="truth (held-out cells)"))
table = pd.concat(tables, ignore_index=True)
table = table[["reference"] + [c for c in table.columns if c != "reference"]]
with atomic_output(snakemake.output.table) as tmp:
    table.to_csv(tmp, index=False, float_format="%.4g")
years = ", ".join(str(y) for y in params.period["test_years"])
insitu = table[table["reference"] == "in-situ"]
metrics = [("rmse", "RMSE ({units})"), ("mae", "MAE ({units})"), ("bias", "bias ({units})"), ("r2", "R² (1)")]
metrics += [("nse", "NSE (1)"), ("anom_r2", "anomaly R² (1)")]
fig = figures.skill_bars(
    insitu,
    metrics=[(m, label) for m, label in metrics if insitu.loc[insitu["group"] == "all", m].notna().any()],
    units=FLUX_UNITS,
    title=f"DERE models at held-out sites against in-situ fluxes, test years {years}",
)
figures.save(fig, snakemake.output.figure)
fig = figures.group_heatmap(
    pd.concat(
        [
            insitu[insitu["group"] == "igbp"],
            insitu[insitu["group"] == "network"].assign(
                group="igbp", group_value=lambda f: "network " + f["group_value"]
            ),
        ]
    ),
    group="igbp",
    metric="nse",
    label="NSE (1)",
    title=f"NSE per IGBP class and network at held-out sites, test years {years}",
)
figures.save(fig, snakemake.output.groups)
provenance = from_snakemake(
    snakemake,
    params={"evaluate": params.evaluate, "period": params.period, "models": params.models, "maps": params.map_labels},
)
outputs.write_json(
    snakemake.output.json, {"overall": table[table["group"] == "all"].to_dict(orient="records")}, provenance
)
log.info("skill of %d models on %d pairs written to %s", len(models), len(pairs), snakemake.output.table)
