"""DERE comparison table: NEE/GPP/RECO scores at held-out sites of step 6, step 4, KGML and Baseline.

Inputs: the metrics JSON of ``step4``, ``step6``, ``baseline``, ``kgml``, ``step5``. Output: ``summary`` JSON
({model: {flux: {rmse, mae, r2, nse, bias, n}}} as the stages scored them, the CSDI hold-out scores, whether
step 6 <= step 4 < Baseline for NEE RMSE).
"""

import json
from pathlib import Path

import terraflux  # noqa: F401
from terraflux import outputs
from terraflux.workflow.provenance import from_snakemake
from terraflux.workflow.script import setup_logging

log = setup_logging(snakemake)
sm = snakemake
load = lambda name: json.loads(Path(getattr(sm.input, name)).read_text())  # noqa: E731
table = {name: load(name)["scores"]["all"] for name in ("step6", "step4", "kgml", "baseline")}
nee = {name: table[name]["NEE"]["rmse"] for name in table}
csdi = {f: {k: v for k, v in s.items() if k != "fit"} for f, s in load("step5")["scores"].items()}
order = nee["step6"] is not None and nee["step6"] <= nee["step4"] < nee["baseline"]
log.info("NEE RMSE at held-out sites: %s; expected order step6 <= step4 < baseline: %s", nee, order)
outputs.write_json(
    sm.output.summary,
    {"nee_rmse": nee, "expected_order_holds": order, "scores": table, "csdi": csdi},
    from_snakemake(sm),
)
