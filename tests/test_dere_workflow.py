"""The simulate and DERE rules run end to end through Snakemake on a tiny prepared world (demo layout)."""

import json
import re

import pandas as pd
import pytest
import torch
import xarray as xr
import yaml

import terraflux  # noqa: F401
from conftest import snakemake
from dere_fixtures import make_prepared

RULES = ["simulate_process_model", "dere_dataset", "dere_step1_pure", "dere_step1_mix", "dere_step2", "dere_step3a", "dere_step3b",
         "dere_step4", "dere_step5", "dere_step5b", "dere_step6", "dere_baseline", "dere_kgml", "dere_predict", "dere_summary"]
TINY = {
    "run": {"name": "tiny"},
    "period": {"start_year": 2016, "end_year": 2017, "train_years": [2016], "val_years": [], "test_years": [2017]},
    "simulate": {"age_class_edges": [0, 40, 200]},
    "dere": {
        "backbone": {"d_model": 8, "n_heads": 2, "d_ff": 16},
        "pft_model": {"d_model": 8, "n_heads": 2, "d_ff": 16, "age_embedding": 4},
        "train": {"batch_size": 16, "max_steps_per_epoch": 2, "device": "cpu"},
        "epochs": {k: 1 for k in ("step1_pure", "step1_mix", "step2", "step3a", "step3b", "step4", "step6", "baseline", "kgml_pretrain", "kgml_finetune")},
        "csdi": {"layers": 1, "channels": 8, "heads": 2, "diffusion_embedding": 16, "time_embedding": 8, "feature_embedding": 4, "num_steps": 10,
                 "n_samples": 4, "epochs": 1, "repeats": 1, "ddim_steps": 3, "drivers": ["t2m", "ssrd"]},
    },
}


def test_dere_chain_through_snakemake(tmp_path):
    make_prepared(tmp_path / "resources" / "tiny" / "prepared", ny=4, nx=5, years=(2016, 2017), n_sites=10)
    config = tmp_path / "tiny.yaml"
    config.write_text(yaml.safe_dump(TINY))
    targets = ["results/tiny/dere/summary.json", "results/tiny/dere/step6/predictions.zarr", "results/tiny/dere/kgml/predictions.zarr"]
    snakemake("--cores", "2", "--configfile", str(config), "--allowed-rules", *RULES, "--", *targets, workdir=tmp_path, timeout=600)
    dere = tmp_path / "results" / "tiny" / "dere"
    summary = json.loads((dere / "summary.json").read_text())
    assert set(summary["nee_rmse"]) == {"step6", "step4", "kgml", "baseline"} and all(v > 0 for v in summary["nee_rmse"].values())
    step4 = json.loads((dere / "step4" / "metrics.json").read_text())
    assert set(step4["networks"]) == {"FLUXNET2015", "ICOS", "all"} and step4["device"]["device"] == "cpu"
    assert step4["provenance"]["rule"] == "dere_step4" and "resources/tiny/dere/dataset.zarr" in step4["provenance"]["inputs"]
    assert set(step4["scores"]["all"]) == {"GPP", "RECO", "NEE"} and {"rmse", "mae", "r2", "nse", "bias"} <= set(step4["scores"]["all"]["NEE"])
    preds = pd.read_parquet(dere / "step6" / "predictions.parquet")
    assert set(preds["split"]) == {"train", "val", "test"} and len(preds) == 10 * 24
    maps = xr.open_zarr(dere / "step6" / "predictions.zarr", consolidated=False)
    assert maps["GPP"].dims == ("time", "latitude", "longitude") and "provenance" in maps.attrs
    holdout = pd.read_parquet(dere / "step5" / "holdout_samples.parquet")
    assert list(holdout.columns) == ["site_id", "time", "variable", "observation", "sample", "value"]
    ckpt = torch.load(dere / "step2" / "checkpoint.pt", weights_only=True, map_location="cpu")
    assert "mix" in ckpt["state"] and json.loads(ckpt["provenance"])["rule"] == "dere_step2"
    # a model-code-free config change (CSDI sampler) reruns step 5 and what follows, not steps 1-4
    changed = tmp_path / "changed.yaml"
    changed.write_text(yaml.safe_dump({**TINY, "dere": {**TINY["dere"], "csdi": {**TINY["dere"]["csdi"], "sampler": "ancestral"}}}))
    plan = snakemake("-n", "--cores", "2", "--configfile", str(changed), "--allowed-rules", *RULES, "--", *targets, workdir=tmp_path).stdout
    jobs = set(re.findall(r"^(?:local)?rule (\w+):", plan, re.M))
    assert {"dere_step5", "dere_step5b", "dere_step6", "dere_summary"} <= jobs
    assert not jobs & {"dere_step1_pure", "dere_step2", "dere_step4", "dere_baseline", "dere_kgml", "dere_dataset"}
