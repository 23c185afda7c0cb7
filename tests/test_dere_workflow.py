"""The simulate and DERE rules run end to end through Snakemake on a tiny prepared world (demo layout)."""

import json
import re

import terraflux  # noqa: F401
from terraflux.outputs import provenance_of

import pandas as pd
import pytest
import torch
import xarray as xr

from support.configs import configfile_args
from support.dere_world import make_prepared
from support.workflow import snakemake

RULES = [
    "simulate_process_model",
    "dere_dataset",
    "dere_step1_pure",
    "dere_step1_mix",
    "dere_step2",
    "dere_step3a",
    "dere_step3b",
    "dere_step4",
    "dere_step5",
    "dere_step5b",
    "dere_step6",
    "dere_compare",
    "dere_predict",
    "dere_summary",
]
pytestmark = pytest.mark.slow
CONFIG = configfile_args("dere_chain")


def test_dere_chain_through_snakemake(tmp_path):
    make_prepared(tmp_path / "resources" / "tiny" / "prepared", ny=4, nx=5, years=(2016, 2017), n_sites=10)
    targets = [
        "results/tiny/dere/summary.json",
        "results/tiny/dere/step6/predictions.zarr",
        "results/tiny/dere/kgml/predictions.zarr",
    ]
    snakemake("--cores", "2", *CONFIG, "--allowed-rules", *RULES, "--", *targets, workdir=tmp_path, timeout=600)
    dere = tmp_path / "results" / "tiny" / "dere"
    summary = json.loads((dere / "summary.json").read_text())
    rows = {"DERE step 6", "DERE step 4", "Baseline (informer)", "KGML (informer)", "Baseline (simpletm)"}
    assert set(summary["nee_rmse"]) == rows | {"KGML (simpletm)"}
    assert all(v["mean"] > 0 and v["std"] >= 0 for v in summary["nee_rmse"].values())
    assert set(summary["ordering"]) == {"informer", "simpletm"}
    assert {r["flux"] for r in summary["table"]} == {"GPP", "RECO", "NEE"}
    assert {r["group"] for r in summary["table"]} == {"all", "network", "igbp"}
    kgml = json.loads((dere / "compare" / "simpletm" / "kgml" / "metrics.json").read_text())
    assert kgml["backbone"] == "simpletm" and kgml["variant"] == "kgml" and "pretrain" in kgml
    assert provenance_of(dere / "compare" / "simpletm" / "baseline" / "predictions.parquet")["rule"] == "dere_compare"
    # the `kgml` maps are drawn by the comparison model on DERE's own backbone (informer)
    maps_inputs = provenance_of(dere / "kgml" / "predictions.zarr")["inputs"]
    assert "results/tiny/dere/compare/informer/kgml/checkpoint.pt" in maps_inputs
    step4 = json.loads((dere / "step4" / "metrics.json").read_text())
    dataset = xr.open_zarr(tmp_path / "resources" / "tiny" / "dere" / "dataset.zarr", consolidated=False)
    trained = set(dataset.site_network.values[dataset.site_split.values == "train"])  # networks with training sites
    assert set(step4["networks"]) == trained | {"all"} and step4["device"]["device"] == "cpu"
    assert (
        step4["provenance"]["rule"] == "dere_step4"
        and "resources/tiny/dere/dataset.zarr" in step4["provenance"]["inputs"]
    )
    assert set(step4["scores"]["all"]) == {"GPP", "RECO", "NEE"} and {"rmse", "mae", "r2", "nse", "bias"} <= set(
        step4["scores"]["all"]["NEE"]
    )
    preds = pd.read_parquet(dere / "step6" / "predictions.parquet")
    assert {"train", "val", "test"} <= set(preds["split"]) and len(preds) == 10 * 24
    # k-fold over sites (spatial folds by default): every site held out once, by the fold that tested it
    assert dataset.attrs["split_method"] == "spatial" and dataset.sizes["fold"] == 4
    for path in (dere / "step4", dere / "compare" / "simpletm" / "kgml"):
        held = pd.read_parquet(path / "held_out_predictions.parquet")
        assert (held["split"] == "test").all() and len(held) == 10 * 24
        per_site = held.groupby("site_id")["fold"].agg(["nunique", "first"])
        assert (per_site["nunique"] == 1).all()
        assert per_site["first"].to_dict() == dict(zip(dataset.site.values, dataset.site_fold.values, strict=True))
    assert step4["folds"] == [0, 1, 2, 3] and set(step4["fold_scores"]["0"]) == {"0", "1", "2", "3"}
    # two training seeds: every fold once per seed, the spread over seeds beside the spread over folds
    assert step4["seeds"] == [0, 1] and set(step4["fold_scores"]) == set(step4["fold_fits"]) == {"0", "1"}
    baseline = json.loads((dere / "compare" / "informer" / "baseline" / "metrics.json").read_text())
    assert baseline["fold_scores"]["0"] != baseline["fold_scores"]["1"]  # another initialisation and batch order
    assert baseline["seed_spread"]["NEE"]["rmse"]["std"] > 0 and baseline["fold_spread"]["NEE"]["rmse"]["std"] > 0
    assert all(v["seed_std"] is not None for v in summary["nee_rmse"].values())
    assert step4["scores"]["all"]["NEE"]["n"] == int(dataset.insitu.sel(flux="NEE").notnull().sum())
    maps = xr.open_zarr(dere / "step6" / "predictions.zarr", consolidated=False)
    assert maps["GPP"].dims == ("time", "latitude", "longitude") and "provenance" in maps.attrs
    holdout = pd.read_parquet(dere / "step5" / "holdout_samples.parquet")
    assert list(holdout.columns) == ["site_id", "time", "variable", "observation", "sample", "value"]
    ckpt = torch.load(dere / "step2" / "checkpoint.pt", weights_only=True, map_location="cpu")
    assert "mix" in ckpt["state"] and ckpt["provenance"]["rule"] == "dere_step2"
    writers = {
        "step2/checkpoint.pt": "dere_step2",
        "step6/predictions.parquet": "dere_step6",
        "step6/predictions.zarr": "dere_predict",
        "step5/holdout_samples.parquet": "dere_step5",
        "step5b/labels.zarr": "dere_step5b",
        "summary.json": "dere_summary",
    }
    for output, rule in writers.items():
        assert provenance_of(dere / output)["rule"] == rule, output
    # the summary copies the stages' own scores (scored once)
    assert next(r for r in summary["rows"] if r["model"] == "DERE step 4")["scores"] == step4["scores"]
    csdi = json.loads((dere / "step5" / "metrics.json").read_text())["scores"]["NEE"]
    assert {"n", "mae", "rmse", "crps", "crps_quantile", "crps_quantile_normalised", "baselines"} <= set(csdi)
    # a model-code-free config change (CSDI sampler) reruns step 5 and what follows, not steps 1-4
    changed = configfile_args("dere_chain", tmp_path, "dere: {csdi: {sampler: ancestral}}\n")
    plan = snakemake("-n", "--cores", "2", *changed, "--allowed-rules", *RULES, "--", *targets, workdir=tmp_path).stdout
    jobs = set(re.findall(r"^(?:local)?rule (\w+):", plan, re.M))
    assert {"dere_step5", "dere_step5b", "dere_step6", "dere_summary"} <= jobs
    assert not jobs & {"dere_step1_pure", "dere_step2", "dere_step4", "dere_compare", "dere_dataset"}
