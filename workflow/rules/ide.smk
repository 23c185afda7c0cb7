# Layer 'ide': drivers of extreme events (src/terraflux/ide/, docs/ide.md).
# ide_benchmark -> ide_dataset -> ide_train -> ide_test per run (dataset, backbone, codebook, seed index);
# ide_baselines per (dataset, method). A run's folder: results/{run}/ide/{dataset}_{backbone}_{codebook}_seed{seed}/.

IDE = config["ide"]
IDE_SEED = config["run"]["seed"]
IDE_BENCHMARK = resources_path("ide/benchmark.zarr")
IDE_REAL_STORES = {
    dataset: {
        "weekly": resources_path(f"prepared/{dataset}_weekly.zarr"),
        "vhp": resources_path(f"prepared/vhp_{dataset}.zarr"),
    }
    for dataset in ("era5_land", "cerra")
}


# A real-data dataset takes part when its source and VHP are acquired (ACQUIRED, prepare.smk) and rules
# produce its weekly and VHP stores.
IDE_DATASETS = [
    d
    for d in IDE["datasets"]
    if d == "benchmark"
    or (
        {d, "vhp"} <= ACQUIRED
        and all(
            any(r.is_producer(path) for r in workflow.rules)
            for path in IDE_REAL_STORES[d].values()
        )
    )
]
IDE_BACKBONES = IDE["backbones"]
IDE_CODEBOOKS = IDE["codebooks"]
# Seed indices per dataset: ide.seeds on the benchmark, ide.real_data_seeds on real data.
IDE_SEEDS = {
    d: list(range(IDE["seeds"] if d == "benchmark" else IDE["real_data_seeds"]))
    for d in IDE_DATASETS
}
# Every trained model: run name -> its dataset.
IDE_RUN_DATASET = {
    f"{d}_{b}_{c}_seed{s}": d
    for d in IDE_DATASETS
    for b in IDE_BACKBONES
    for c in IDE_CODEBOOKS
    for s in IDE_SEEDS[d]
}
IDE_RUNS = list(IDE_RUN_DATASET)
IDE_RUN = "ide/{dataset}_{backbone}_{codebook}_seed{seed}"
IDE_RUN_CONSTRAINTS = {
    "dataset": "|".join(IDE_DATASETS),
    "backbone": "|".join(IDE_BACKBONES),
    "codebook": "|".join(IDE_CODEBOOKS),
    "seed": r"\d+",
}
# True drivers for evaluation only: the benchmark's, and the synthetic world's where a rule writes them.
IDE_TRUTH = {
    "benchmark": IDE_BENCHMARK,
    **{
        d: path
        for d, path in (
            ("era5_land", resources_path("truth/extremes.zarr")),
            ("cerra", resources_path("truth/extremes_cerra.zarr")),
        )
        if any(
            r.is_producer(path) or path in [str(o).rstrip("/") for o in r.output]
            for r in workflow.rules
        )
    },
}
# Baselines: every method on the benchmark, ide.baselines.real_data_methods on the other datasets with true
# drivers; each method's job depends on its own modules only.
IDE_BASELINE_DATASETS = [d for d in IDE_DATASETS if d in IDE_TRUTH]
IDE_BASELINE_RUNS = {
    d: IDE["baselines"]["methods" if d == "benchmark" else "real_data_methods"]
    for d in IDE_BASELINE_DATASETS
}
IDE_BASELINE_METHODS = sorted(
    {m for methods in IDE_BASELINE_RUNS.values() for m in methods}
)
IDE_BASELINE_SCORES = [
    results(f"ide/baselines/{d}/{m}.json")
    for d, methods in IDE_BASELINE_RUNS.items()
    for m in methods
]
IDE_BASELINE_CODE = {
    method: code_stamp(
        "ide/baselines/base",
        "ide/baselines/mil",
        "ide/baselines/reconstruction",
        "ide/baselines/attribution",
        f"ide/baselines/{method}",
    )
    for method in IDE_BASELINE_METHODS
}


rule ide_benchmark:
    """Synthetic benchmark with ground-truth drivers (seeded, streaming, float32)."""
    input:
        code=code_stamp("ide/benchmark", "train"),
    output:
        store=directory(IDE_BENCHMARK),
    log:
        logs("ide_benchmark.log"),
    benchmark:
        benchmarks("ide_benchmark.tsv")
    conda:
        ENV
    threads: job_threads("prepare")
    resources:
        **job_resources("prepare"),
    params:
        benchmark=IDE["benchmark"],
        seed=IDE_SEED,
    script:
        "../scripts/ide_benchmark.py"


rule ide_dataset:
    """Normalised anomalies (training-weeks climatology), targets and valid masks of one dataset."""
    input:
        unpack(
            lambda wc: (
                {"benchmark": IDE_BENCHMARK}
                if wc.dataset == "benchmark"
                else IDE_REAL_STORES[wc.dataset]
            )
        ),
        code=code_stamp("ide/dataset", "train"),
    output:
        store=directory(resources_path("ide/{dataset}/dataset.zarr")),
    log:
        logs("ide_dataset_{dataset}.log"),
    benchmark:
        benchmarks("ide_dataset_{dataset}.tsv")
    wildcard_constraints:
        dataset="|".join(IDE_DATASETS),
    conda:
        ENV
    threads: job_threads("prepare")
    resources:
        **job_resources("prepare"),
    params:
        dataset=lambda wc: wc.dataset,
        clip=IDE["clip"],
        climatology_weeks=lambda wc: IDE["climatology_weeks"][wc.dataset],
        variables=lambda wc: IDE["variables"].get(wc.dataset, []),
        period=lambda wc: config["period"] if wc.dataset != "benchmark" else {},
    script:
        "../scripts/ide_dataset.py"


rule ide_train:
    """Train one model per run (dataset, backbone, codebook, seed index) with the shared engine (GPU job;
    resumes when re-run)."""
    input:
        dataset=resources_path("ide/{dataset}/dataset.zarr"),
        code=code_stamp("ide", "metrics", "train"),
    output:
        checkpoint=results(f"{IDE_RUN}/checkpoint.pt"),
        summary=results(f"{IDE_RUN}/training.json"),
    log:
        logs("ide_train_{dataset}_{backbone}_{codebook}_seed{seed}.log"),
    benchmark:
        benchmarks("ide_train_{dataset}_{backbone}_{codebook}_seed{seed}.tsv")
    wildcard_constraints:
        **IDE_RUN_CONSTRAINTS,
    conda:
        ENV
    threads: job_threads("train")
    resources:
        **job_resources("train"),
    params:
        weeks=IDE["weeks"],
        model=IDE["model"],
        train=IDE["train"],
        test_tile=IDE["test_tile"],
        seed=IDE_SEED,
    script:
        "../scripts/ide_train.py"


rule ide_test:
    """Driver maps (majority vote over windows), extremes probabilities, metrics JSON and a figure."""
    input:
        unpack(
            lambda wc: (
                {"truth": IDE_TRUTH[wc.dataset]} if wc.dataset in IDE_TRUTH else {}
            )
        ),
        checkpoint=results(f"{IDE_RUN}/checkpoint.pt"),
        dataset=resources_path("ide/{dataset}/dataset.zarr"),
        code=code_stamp("ide", "metrics", "train"),
    output:
        predictions=directory(results(f"{IDE_RUN}/predictions.zarr")),
        metrics=results(f"{IDE_RUN}/metrics.json"),
        figure=report(
            results(f"{IDE_RUN}/test.png"),
            category="IDE",
            caption="../report/ide_test.rst",
        ),
    log:
        logs("ide_test_{dataset}_{backbone}_{codebook}_seed{seed}.log"),
    benchmark:
        benchmarks("ide_test_{dataset}_{backbone}_{codebook}_seed{seed}.tsv")
    wildcard_constraints:
        **IDE_RUN_CONSTRAINTS,
    conda:
        ENV
    threads: job_threads("train")
    resources:
        **job_resources("train", single_process=True),
    params:
        weeks=IDE["weeks"],
        threshold=lambda wc: IDE["thresholds"][wc.dataset],
        test_tile=IDE["test_tile"],
        memory_gb=IDE["train"]["memory_gb"],
    script:
        "../scripts/ide_test.py"


rule ide_baselines:
    """One baseline (ide.baselines.methods) on one dataset with true drivers, scored like the models."""
    input:
        dataset=resources_path("ide/{dataset}/dataset.zarr"),
        truth=lambda wc: IDE_TRUTH[wc.dataset],
        # the IDE library but the benchmark writer and the baselines, then the method's own modules
        code=code_stamp("ide/[!b_]*", "ide/baselines/__init__", "metrics", "train"),
        method_code=lambda wc: IDE_BASELINE_CODE[wc.method],
    output:
        metrics=results("ide/baselines/{dataset}/{method}.json"),
    log:
        logs("ide_baselines/{dataset}_{method}.log"),
    benchmark:
        benchmarks("ide_baselines/{dataset}_{method}.tsv")
    wildcard_constraints:
        dataset="|".join(IDE_BASELINE_DATASETS),
        method="|".join(IDE_BASELINE_METHODS),
    conda:
        ENV
    threads: job_threads("cpu_model")
    resources:
        **job_resources("cpu_model"),
    params:
        method=lambda wc: wc.method,
        weeks=IDE["weeks"],
        baselines={k: v for k, v in IDE["baselines"].items() if k != "methods"},
        sampling={
            k: IDE["train"][k] for k in ("crop", "batch_size", "positive_fraction")
        },
        memory_gb=IDE["train"]["memory_gb"],
        threshold=lambda wc: IDE["thresholds"][wc.dataset],
        test_tile=IDE["test_tile"],
        seed=IDE_SEED,
    script:
        "../scripts/ide_baselines.py"


ALL_TARGETS.extend(results(f"ide/{name}/metrics.json") for name in IDE_RUNS)
ALL_TARGETS.extend(IDE_BASELINE_SCORES)
