"""DERE in-situ stages: ``step4`` (per network + all), ``step6`` (expanded labels, uncertainty weights),
``baseline`` (backbone on in-situ only), ``kgml`` (pretrain on process output with physics, then fine-tune).

Inputs: ``dataset``; step4/6: ``step2``, ``step3b`` checkpoints; step6: ``labels`` (``params.label_set`` csdi:
step-5b labels.zarr; kriging: the evaluation layer's kriging_labels.parquet; see terraflux.dere.labels).
Outputs: ``checkpoint`` (state per network / model), ``predictions`` parquet (site_id, time, model, split, network,
igbp, GPP/RECO/NEE predicted and GPP_observed/..., gC m-2 d-1; step 4/6: the model trained on all networks; model
``step6_kriging`` for the kriging label set),
step 4/6 ``network_predictions`` (the same for every per-network model), ``metrics`` JSON (RMSE, MAE, R2, NSE, bias per flux at
held-out test sites: all, per network, per IGBP; fits). Stage chosen by ``params.stage``.

Several processes (config ``compute.train.tasks``/``gpus``, resources ``tasks``): :func:`launch.start` starts the
script as N data-parallel tasks (srun) that train together; rank 0 writes the outputs and the rule's log, rank N logs to
``<log>.rank<N>``.
"""

import terraflux  # noqa: F401

import pandas as pd

from terraflux.dere import labels, stages
from terraflux.dere.io import StageRun
from terraflux.train import launch
from terraflux.workflow.script import setup_logging

log = setup_logging(snakemake, log_path=launch.rank_log(snakemake.log[0]))  # noqa: F821
launch.start(snakemake)  # noqa: F821  (batch step of a multi-task job: exec srun -n N; in a task: returns)
stage = snakemake.params.stage  # noqa: F821
label_set = getattr(snakemake.params, "label_set", "csdi")  # noqa: F821
name = stage if label_set == "csdi" else f"{stage}_{label_set}"


def train(run: StageRun) -> dict:
    """The stage's models (every rank trains them together)."""
    data, cfg, ctx = run.data, run.cfg, run.ctx
    if stage in ("step4", "step6"):
        mix_state, pft_state = run.load("step2")["mix"], run.load("step3b")["pft"]
        model = stages.new_mix_model(data, cfg)
        model.load_state_dict(mix_state)
        pure = stages.pure_outputs(data, model, ctx)
        if stage == "step4":
            return stages.step4(data, cfg, ctx, mix_state, pft_state, pure)
        lab, lab_std, imputed = labels.load(label_set, snakemake.input.labels, data.site_ids, pd.DatetimeIndex(data.ds["time"].values), data.fluxes)  # noqa: F821
        return stages.step6(data, cfg, ctx, mix_state, pft_state, pure, lab, lab_std, imputed)
    return stages.baseline(data, cfg, ctx) if stage == "baseline" else stages.kgml(data, cfg, ctx)


def write(run: StageRun, out: dict) -> None:
    """Checkpoint, site predictions and metrics (rank 0)."""
    data = run.data
    if stage in ("step4", "step6"):
        run.save_checkpoint({n: o["state"] for n, o in out.items()})
        run.write_site_predictions({name: out["all"]["pred"]})
        run.write_site_predictions({f"{name}_{n}": o["pred"] for n, o in out.items()}, snakemake.output.network_predictions)  # noqa: F821
        metrics = {"label_set": label_set, "networks": {n: {"scores": o["scores"], "fit": stages.fit_summary(o["fit"])} for n, o in out.items()}, "scores": out["all"]["scores"]}
        pred = out["all"]["pred"]
    else:
        run.save_checkpoint({"net": out["state"]})
        run.write_site_predictions({stage: out["pred"]})
        metrics = {"scores": out["scores"], "fit": stages.fit_summary(out["fit"])}
        if "pretrain" in out:
            metrics["pretrain"] = stages.fit_summary(out["pretrain"])
        pred = out["pred"]
    k = {f: i for i, f in enumerate(data.fluxes)}
    metrics["physics_residual_RECO-GPP-NEE_mean_abs"] = float(abs(pred[..., k["RECO"]] - pred[..., k["GPP"]] - pred[..., k["NEE"]]).mean())
    log.info("%s NEE at test sites: %s", name, metrics["scores"]["all"]["NEE"])
    run.write_metrics(metrics)


with launch.session() as dist:
    run = StageRun(snakemake, stage)  # noqa: F821
    run.ctx.dist = dist
    out = train(run)
    if dist.is_main:
        write(run, out)
