"""Test one trained IDE model: driver maps by majority vote, extremes probabilities, metrics, a figure.

Inputs: results/{run}/ide/{dataset}_{backbone}_{codebook}_seed{seed}/checkpoint.pt,
        resources/{run}/ide/{dataset}/dataset.zarr,
        truth (evaluation only): the benchmark store, or in the synthetic world truth/extremes.zarr (ERA5-Land)
        and truth/extremes_cerra.zarr (CERRA) with the true drivers.
Params: weeks (T), threshold (probability of an extreme), test_tile, memory_gb (ide.train.memory_gb).
Outputs: results/{run}/ide/{dataset}_{backbone}_{codebook}_seed{seed}/
  predictions.zarr: driver(variable, time, y, x) bool, covered(time, y, x) bool,
                    extreme_probability(target_time, y, x) float32 (1)
  metrics.json: extremes {precision, recall, f1, iou, overall_accuracy, tp, fp, fn, tn} over valid pixels
                of the test target weeks; drivers {pooled, per_variable} over the test weeks when a ground
                truth exists; dataset, backbone, codebook, seed (index); training summary; provenance
  test.png: predicted and true drivers and extremes at the test week with the most extremes
"""

import terraflux  # noqa: F401  (first: native libraries in a safe order)
from terraflux import outputs
from terraflux.ide.dataset import truth_drivers
from terraflux.ide.outputs import plot_test, write_predictions
from terraflux.ide.stages import evaluate, load_model, predict
from terraflux.ide.windows import WindowData
from terraflux.train import select_device
from terraflux.workflow.atomic import atomic_output
from terraflux.workflow.provenance import from_snakemake
from terraflux.workflow.script import setup_logging

log = setup_logging(snakemake)
params = dict(snakemake.params.items())
wc = snakemake.wildcards
device = select_device(threads=snakemake.threads)
model, state = load_model(snakemake.input.checkpoint, device.device)
data = WindowData(snakemake.input.dataset, params["weeks"], memory_gb=params["memory_gb"])
if state["variables"] != data.variables:
    raise ValueError(
        f"{snakemake.input.checkpoint}: variables {state['variables']} differ from the dataset's {data.variables}; "
        "rerun ide_train"
    )
truth, has_truth = (None, None)
if snakemake.input.get("truth"):
    truth, has_truth = truth_drivers(snakemake.input.truth, snakemake.input.dataset)
pred = predict(model, data, "test", tile=params["test_tile"], device=device)
metrics = evaluate(pred, data, "test", params["threshold"], truth, has_truth)
metrics.update(
    dataset=wc.dataset,
    backbone=wc.backbone,
    codebook=wc.codebook,
    seed=int(wc.seed),
    training=state["summary"],
    device=device.as_dict(),
)
run = {"dataset": wc.dataset, "backbone": wc.backbone, "codebook": wc.codebook, "seed": int(wc.seed)}
provenance = from_snakemake(snakemake, params=params)
with atomic_output(snakemake.output.predictions) as tmp:
    write_predictions(pred, data, tmp, {"provenance": provenance, **run})
with atomic_output(snakemake.output.figure) as tmp:
    plot_test(pred, data, truth, tmp, f"IDE {wc.backbone} {wc.codebook} (seed {wc.seed}) on {wc.dataset}")
outputs.write_json(snakemake.output.metrics, metrics, provenance)
drivers = metrics.get("drivers", {}).get("pooled", {})
log.info("extremes F1 %s; drivers F1 %s IoU %s", metrics["extremes"]["f1"], drivers.get("f1"), drivers.get("iou"))
