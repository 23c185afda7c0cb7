# Layer 'dere': the DERE carbon-flux method (docs/dere.md; Xu et al., KDD 2026, doi 10.1145/3770855.3818927)
# as GPU stages over the prepared stores and the process model: dataset, steps 1-6 (CSDI in step 5), the
# Baseline and KGML comparison models and the maps. The in-situ stages (steps 4 and 6, Baseline, KGML) train
# once per fold of the sites inside their job (params folds); the others see no site observation.
# Each training rule writes checkpoint.pt, metrics.json (and predictions) under results/{run}/dere/<stage>/
# and resumes from results/{run}/dere/<stage>/.resume/ when re-run after preemption.

from terraflux.dere.summary import STEPS, VARIANT_LABELS, row_label

DERE_DATASET = resources_path("dere/dataset.zarr")
# The library code of every DERE stage (the dataset module imports the spatial folds, which use the kriging code).
DERE_CODE = (
    "dere",
    "evaluate/kriging",
    "evaluate/semivariogram",
    "metrics",
    "simulate",
    "train",
)
DERE_MODELS = ["baseline", "kgml", "step4", "step6"]
# The comparison table: each backbone as each variant (dere_compare); the maps' and evaluation's `baseline`
# and `kgml` are the comparison models on DERE's own backbone (dere.backbone.name).
COMPARE = config["dere"]["comparison"]
COMPARE_MODELS = [(b, v) for b in COMPARE["backbones"] for v in COMPARE["variants"]]
COMPARE_EPOCHS = {"baseline": ("baseline",), "kgml": ("kgml_pretrain", "kgml_finetune")}
# Held-out site predictions of every row of the comparison table (each site once, by the fold that tested it),
# by row label (evaluate_dere).
DERE_TABLE_PREDICTIONS = {
    label: results(f"dere/{step}/held_out_predictions.parquet") for step, label in STEPS
} | {
    row_label(b, v): results(f"dere/compare/{b}/{v}/held_out_predictions.parquet")
    for b, v in COMPARE_MODELS
}
# Row labels of the map models (evaluate.dere_models).
DERE_MAP_LABELS = dict(STEPS) | {
    v: row_label(config["dere"]["backbone"]["name"], v) for v in VARIANT_LABELS
}


# results/{run}/dere/<path>; only the dere config subtrees a stage reads (precise reruns), plus the run seed.
dere = lambda path: results(f"dere/{path}")
# A training stage gets only its own entries of dere.epochs (`epochs=`), so that changing one stage's
# epochs reruns that stage and its dependants, nothing else.
dere_params = lambda *keys, epochs=(): {
    "dere": {k: config["dere"][k] for k in keys}
    | ({"epochs": {e: config["dere"]["epochs"][e] for e in epochs}} if epochs else {}),
    "seed": config["run"]["seed"],
}


TRAIN_KEYS = ("train", "dataset")
# A model's file: the comparison variants on DERE's backbone live under compare/, the DERE steps in their folder.
dere_model = lambda model, name: dere(
    f"compare/{config['dere']['backbone']['name']}/{model}/{name}"
    if model in COMPARE_EPOCHS
    else f"{model}/{name}"
)


rule dere_dataset:
    """One store: drivers, process output per age class, PFT fractions, age weights, cell types, in-situ, splits."""
    input:
        drivers=PREPARED["era5_land_monthly.zarr"],
        pft=PREPARED["pft.zarr"],
        sites=PREPARED["sites.parquet"],
        insitu=PREPARED["insitu_monthly.parquet"],
        process=PROCESS_MODEL,
        code=code_stamp(*DERE_CODE),
    output:
        dataset=directory(DERE_DATASET),
        metrics=dere("dataset/metrics.json"),
    log:
        logs("dere_dataset.log"),
    benchmark:
        benchmarks("dere_dataset.tsv")
    conda:
        ENV
    threads: job_threads("prepare")
    resources:
        **job_resources("prepare"),
    params:
        **dere_params("dataset", "split"),
    script:
        "../scripts/dere_dataset.py"


rule dere_step1_pure:
    """Step 1a: three pure-PFT branches sharing embedding and encoder, trained on pure cells (physics loss)."""
    input:
        dataset=DERE_DATASET,
        code=code_stamp(*DERE_CODE),
    output:
        checkpoint=dere("step1_pure/checkpoint.pt"),
        metrics=dere("step1_pure/metrics.json"),
    log:
        logs("dere_step1_pure.log"),
    benchmark:
        benchmarks("dere_step1_pure.tsv")
    conda:
        ENV
    threads: job_threads("train")
    resources:
        **job_resources("train"),
    params:
        **dere_params("backbone", *TRAIN_KEYS, epochs=("step1_pure",)),
    script:
        "../scripts/dere_step1_pure.py"


rule dere_step1_mix:
    """Step 1b: shared encoder frozen; branch decoders and the competition branch on all cells."""
    input:
        dataset=DERE_DATASET,
        pure=rules.dere_step1_pure.output.checkpoint,
        code=code_stamp(*DERE_CODE),
    output:
        checkpoint=dere("step1_mix/checkpoint.pt"),
        metrics=dere("step1_mix/metrics.json"),
    log:
        logs("dere_step1_mix.log"),
    benchmark:
        benchmarks("dere_step1_mix.tsv")
    conda:
        ENV
    threads: job_threads("train")
    resources:
        **job_resources("train"),
    params:
        **dere_params("backbone", *TRAIN_KEYS, epochs=("step1_mix",)),
    script:
        "../scripts/dere_step1_mix.py"


rule dere_step2:
    """Step 2: age-aware fine-tuning of the competition branch (pure branches frozen)."""
    input:
        dataset=DERE_DATASET,
        mix=rules.dere_step1_mix.output.checkpoint,
        code=code_stamp(*DERE_CODE),
    output:
        checkpoint=dere("step2/checkpoint.pt"),
        metrics=dere("step2/metrics.json"),
    log:
        logs("dere_step2.log"),
    benchmark:
        benchmarks("dere_step2.tsv")
    conda:
        ENV
    threads: job_threads("train")
    resources:
        **job_resources("train"),
    params:
        **dere_params("backbone", *TRAIN_KEYS, epochs=("step2",)),
    script:
        "../scripts/dere_step2.py"


rule dere_step3a:
    """Step 3a: PFT model fits the process model's per-age PFT fractions."""
    input:
        dataset=DERE_DATASET,
        code=code_stamp(*DERE_CODE),
    output:
        checkpoint=dere("step3a/checkpoint.pt"),
        metrics=dere("step3a/metrics.json"),
    log:
        logs("dere_step3a.log"),
    benchmark:
        benchmarks("dere_step3a.tsv")
    conda:
        ENV
    threads: job_threads("train")
    resources:
        **job_resources("train"),
    params:
        **dere_params("pft_model", *TRAIN_KEYS, epochs=("step3a",)),
    script:
        "../scripts/dere_step3a.py"


rule dere_step3b:
    """Step 3b: PFT model against ESA-CCI fractions (encoder frozen, age-weighted)."""
    input:
        dataset=DERE_DATASET,
        pft_a=rules.dere_step3a.output.checkpoint,
        code=code_stamp(*DERE_CODE),
    output:
        checkpoint=dere("step3b/checkpoint.pt"),
        metrics=dere("step3b/metrics.json"),
    log:
        logs("dere_step3b.log"),
    benchmark:
        benchmarks("dere_step3b.tsv")
    conda:
        ENV
    threads: job_threads("train")
    resources:
        **job_resources("train"),
    params:
        **dere_params("pft_model", *TRAIN_KEYS, epochs=("step3b",)),
    script:
        "../scripts/dere_step3b.py"


rule dere_step4:
    """Step 4: in-situ fine-tuning per network and for all networks (masked MSE on GPP, RECO, NEE)."""
    input:
        dataset=DERE_DATASET,
        step2=rules.dere_step2.output.checkpoint,
        step3b=rules.dere_step3b.output.checkpoint,
        code=code_stamp(*DERE_CODE),
    output:
        checkpoint=dere("step4/checkpoint.pt"),
        predictions=dere("step4/predictions.parquet"),
        network_predictions=dere("step4/network_predictions.parquet"),
        held_out=dere("step4/held_out_predictions.parquet"),
        metrics=dere("step4/metrics.json"),
    log:
        logs("dere_step4.log"),
    benchmark:
        benchmarks("dere_step4.tsv")
    conda:
        ENV
    threads: job_threads("train")
    resources:
        **job_resources("train"),
    params:
        **dere_params("backbone", "pft_model", *TRAIN_KEYS, epochs=("step4",)),
        folds="all",
    script:
        "../scripts/dere_step4.py"


rule dere_step5:
    """Step 5: CSDI per flux on in-situ series + drivers: train, score on hidden points, sample the gaps."""
    input:
        dataset=DERE_DATASET,
        code=code_stamp("csdi", *DERE_CODE),
    output:
        checkpoint=dere("step5/checkpoint.pt"),
        samples=directory(dere("step5/samples.zarr")),
        holdout=dere("step5/holdout_samples.parquet"),
        metrics=dere("step5/metrics.json"),
    log:
        logs("dere_step5.log"),
    benchmark:
        benchmarks("dere_step5.tsv")
    conda:
        ENV
    threads: job_threads("train")
    resources:
        **job_resources("train", single_process=True),
    params:
        **dere_params("csdi", "train", "dataset"),
    script:
        "../scripts/dere_step5.py"


rule dere_step5b:
    """Step 5b: expanded labels (sample mean/median and std at gaps; observations kept with std 0)."""
    input:
        dataset=DERE_DATASET,
        samples=rules.dere_step5.output.samples,
        code=code_stamp("csdi", *DERE_CODE),
    output:
        labels=directory(dere("step5b/labels.zarr")),
        metrics=dere("step5b/metrics.json"),
    log:
        logs("dere_step5b.log"),
    benchmark:
        benchmarks("dere_step5b.tsv")
    conda:
        ENV
    threads: 1
    resources:
        **job_resources("evaluate"),
    params:
        **dere_params("csdi", "dataset"),
    script:
        "../scripts/dere_step5b.py"


rule dere_step6:
    """Step 6: per network, fine-tuning on expanded labels weighted by a learned uncertainty weight."""
    input:
        dataset=DERE_DATASET,
        step2=rules.dere_step2.output.checkpoint,
        step3b=rules.dere_step3b.output.checkpoint,
        labels=rules.dere_step5b.output.labels,
        code=code_stamp(*DERE_CODE),
    output:
        checkpoint=dere("step6/checkpoint.pt"),
        predictions=dere("step6/predictions.parquet"),
        network_predictions=dere("step6/network_predictions.parquet"),
        held_out=dere("step6/held_out_predictions.parquet"),
        metrics=dere("step6/metrics.json"),
    log:
        logs("dere_step6.log"),
    benchmark:
        benchmarks("dere_step6.tsv")
    conda:
        ENV
    threads: job_threads("train")
    resources:
        **job_resources("train"),
    params:
        **dere_params("backbone", "pft_model", "step6", *TRAIN_KEYS, epochs=("step6",)),
        label_set="csdi",
        folds="all",
    script:
        "../scripts/dere_step6.py"


# Step 6 on the evaluation layer's kriging label set: the same stage, other labels, fold 0 only (the label-set
# comparison is on fold 0's split, like the step-6 predictions.parquet it compares with). No cycle:
# evaluate_label_expansion reads only step-5 outputs. Built in `all` for evaluate_label_expansion_skill.
use rule dere_step6 as dere_step6_kriging with:
    input:
        dataset=DERE_DATASET,
        step2=rules.dere_step2.output.checkpoint,
        step3b=rules.dere_step3b.output.checkpoint,
        labels=results("evaluate/kriging_labels.parquet"),
        code=code_stamp(*DERE_CODE),
    output:
        checkpoint=dere("step6_kriging/checkpoint.pt"),
        predictions=dere("step6_kriging/predictions.parquet"),
        network_predictions=dere("step6_kriging/network_predictions.parquet"),
        held_out=dere("step6_kriging/held_out_predictions.parquet"),
        metrics=dere("step6_kriging/metrics.json"),
    log:
        logs("dere_step6_kriging.log"),
    benchmark:
        benchmarks("dere_step6_kriging.tsv")
    params:
        **dere_params("backbone", "pft_model", "step6", *TRAIN_KEYS, epochs=("step6",)),
        label_set="kriging",
        folds="first",


# Step 6 on the basis-function label set of rule basis_labels (workflow/rules/spatial.smk; docs/spatial.md).
use rule dere_step6_kriging as dere_step6_basis with:
    input:
        dataset=DERE_DATASET,
        step2=rules.dere_step2.output.checkpoint,
        step3b=rules.dere_step3b.output.checkpoint,
        labels=results("evaluate/basis_labels.parquet"),
        code=code_stamp(*DERE_CODE),
    output:
        checkpoint=dere("step6_basis/checkpoint.pt"),
        predictions=dere("step6_basis/predictions.parquet"),
        network_predictions=dere("step6_basis/network_predictions.parquet"),
        held_out=dere("step6_basis/held_out_predictions.parquet"),
        metrics=dere("step6_basis/metrics.json"),
    log:
        logs("dere_step6_basis.log"),
    benchmark:
        benchmarks("dere_step6_basis.tsv")
    params:
        **dere_params("backbone", "pft_model", "step6", *TRAIN_KEYS, epochs=("step6",)),
        label_set="basis",
        folds="first",


rule dere_compare:
    """Comparison: backbone {backbone} as {variant}: `baseline` on in-situ data only; `kgml` pretrained on the
    age-weighted process output with the physics loss, then fine-tuned on in-situ data.
    """
    input:
        dataset=DERE_DATASET,
        code=code_stamp(*DERE_CODE),
    output:
        checkpoint=dere("compare/{backbone}/{variant}/checkpoint.pt"),
        predictions=dere("compare/{backbone}/{variant}/predictions.parquet"),
        held_out=dere("compare/{backbone}/{variant}/held_out_predictions.parquet"),
        metrics=dere("compare/{backbone}/{variant}/metrics.json"),
    log:
        logs("dere_compare/{backbone}_{variant}.log"),
    benchmark:
        benchmarks("dere_compare/{backbone}_{variant}.tsv")
    wildcard_constraints:
        backbone="|".join(
            sorted(set(COMPARE["backbones"]) | {config["dere"]["backbone"]["name"]})
        ),
        variant="baseline|kgml",
    conda:
        ENV
    threads: job_threads("train")
    resources:
        **job_resources("train"),
    params:
        dere=lambda wildcards: dere_params(
            "backbone", *TRAIN_KEYS, epochs=COMPARE_EPOCHS[wildcards.variant]
        )["dere"],
        seed=config["run"]["seed"],
        folds="all",
    script:
        "../scripts/dere_compare.py"


rule dere_predict:
    """Monthly GPP, RECO, NEE maps of every land cell from one trained model (step4, step6, baseline, kgml)."""
    input:
        dataset=DERE_DATASET,
        model=lambda wildcards: dere_model(wildcards.model, "checkpoint.pt"),
        step2=rules.dere_step2.output.checkpoint,
        code=code_stamp(*DERE_CODE),
    output:
        predictions=directory(dere("{model}/predictions.zarr")),
        metrics=dere("{model}/predict_metrics.json"),
    log:
        logs("dere_predict/{model}.log"),
    benchmark:
        benchmarks("dere_predict/{model}.tsv")
    wildcard_constraints:
        model="|".join(DERE_MODELS),
    conda:
        ENV
    threads: job_threads("train")
    resources:
        **job_resources("train", single_process=True),
    params:
        **dere_params("backbone", "pft_model", "predict", "train"),
    script:
        "../scripts/dere_predict.py"


rule dere_summary:
    """The comparison table: step 6, step 4 and every backbone x variant at held-out sites; CSDI scores."""
    input:
        step4=rules.dere_step4.output.metrics,
        step6=rules.dere_step6.output.metrics,
        step5=rules.dere_step5.output.metrics,
        compare=[dere(f"compare/{b}/{v}/metrics.json") for b, v in COMPARE_MODELS],
        code=code_stamp("dere/summary"),
    output:
        summary=dere("summary.json"),
    log:
        logs("dere_summary.log"),
    benchmark:
        benchmarks("dere_summary.tsv")
    localrule: True
    conda:
        ENV
    params:
        compare=COMPARE_MODELS,
        backbone=config["dere"]["backbone"]["name"],
    script:
        "../scripts/dere_summary.py"


ALL_TARGETS.append(dere("summary.json"))
ALL_TARGETS.extend(dere(f"{model}/predictions.zarr") for model in DERE_MODELS)
