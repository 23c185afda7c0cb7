# Layer 'evaluate': skill tables, maps, spatial structure, kriging label baseline, report (docs/dere.md, docs/ide.md).
# Inputs follow docs/data-layout.md; final figures and tables are marked with report() (captions in
# workflow/report/), so `snakemake --report results/{run}/report.html` shows them all.

EVAL = config["evaluate"]
# IDE models scored by evaluate_ide: the configured list, or every model the ide section trains.
IDE_MODELS = EVAL["ide_models"] or IDE_RUNS
SYNTHETIC = config["run"]["origin"] == "synthetic"


# Ground-truth files of the synthetic world (none on real data), given to rules with unpack().
TRUTH_FLUXES = (
    {"truth_fluxes": resources_path("truth/fluxes.zarr")} if SYNTHETIC else {}
)
TRUTH_SITES = (
    {"truth_sites": resources_path("truth/sites.parquet")} if SYNTHETIC else {}
)
# Maps of the DERE models, scored against the truth on held-out cells (synthetic world only).
DERE_MAPS = (
    {"maps": [results(f"dere/{m}/predictions.zarr") for m in EVAL["dere_models"]]}
    if SYNTHETIC
    else {}
)


rule evaluate_run_manifest:
    """Provenance of the whole run: validated config, its hash, package version, git commit, environment."""
    input:
        lock=repo_file("envs/requirements.lock"),
        code=code_stamp(),
    output:
        manifest=report(
            results("manifest.json"),
            caption="../report/manifest.rst",
            category="0. Provenance",
        ),
    log:
        logs("evaluate_run_manifest.log"),
    benchmark:
        benchmarks("evaluate_run_manifest.tsv")
    localrule: True
    conda:
        ENV
    params:
        config=config,
    script:
        "../scripts/evaluate_run_manifest.py"


rule evaluate_dere:
    """The comparison table's models at held-out sites (in-situ; truth at sites and held-out cells in the synthetic world)."""
    input:
        unpack(lambda wildcards: {**TRUTH_FLUXES, **TRUTH_SITES, **DERE_MAPS}),
        predictions=list(DERE_TABLE_PREDICTIONS.values()),
        insitu=resources_path("prepared/insitu_monthly.parquet"),
        sites=resources_path("prepared/sites.parquet"),
        code=code_stamp("evaluate", "metrics"),
    output:
        table=report(
            results("evaluate/dere_skill.csv"),
            caption="../report/dere_skill_table.rst",
            category="1. DERE carbon fluxes",
        ),
        figure=report(
            results("evaluate/dere_skill.png"),
            caption="../report/dere_skill.rst",
            category="1. DERE carbon fluxes",
        ),
        groups=report(
            results("evaluate/dere_skill_groups.png"),
            caption="../report/dere_skill_groups.rst",
            category="1. DERE carbon fluxes",
        ),
        json=results("evaluate/dere_skill.json"),
    log:
        logs("evaluate_dere.log"),
    benchmark:
        benchmarks("evaluate_dere.tsv")
    conda:
        ENV
    threads: job_threads("evaluate")
    resources:
        **job_resources("evaluate"),
    params:
        evaluate=EVAL,
        period=config["period"],
        models=list(DERE_TABLE_PREDICTIONS),
        map_labels=[DERE_MAP_LABELS[m] for m in EVAL["dere_models"]],
    script:
        "../scripts/evaluate_dere.py"


rule evaluate_maps:
    """Maps of one DERE model's predicted fluxes and differences to the process model and the truth."""
    input:
        unpack(lambda wildcards: TRUTH_FLUXES),
        predictions=results("dere/{model}/predictions.zarr"),
        process_model=resources_path("process_model.zarr"),
        land=resources_path("prepared/era5_land_monthly.zarr"),
        code=code_stamp("evaluate"),
    output:
        figure=report(
            results("evaluate/maps/{model}.png"),
            caption="../report/maps.rst",
            category="2. Maps",
            subcategory="{model}",
        ),
    log:
        logs("evaluate_maps/{model}.log"),
    benchmark:
        benchmarks("evaluate_maps/{model}.tsv")
    conda:
        ENV
    threads: job_threads("evaluate")
    resources:
        **job_resources("evaluate"),
    params:
        evaluate=EVAL,
        period=config["period"],
    script:
        "../scripts/evaluate_maps.py"


rule evaluate_spatial:
    """Semivariograms (FFT, same mask), fitted range/sill/nugget, ACF and lag-k curves of one model's maps."""
    input:
        unpack(lambda wildcards: TRUTH_FLUXES),
        predictions=results("dere/{model}/predictions.zarr"),
        process_model=resources_path("process_model.zarr"),
        code=code_stamp("evaluate"),
    output:
        figure=report(
            results("evaluate/spatial/{model}.png"),
            caption="../report/spatial.rst",
            category="3. Spatial and temporal structure",
            subcategory="{model}",
        ),
        json=results("evaluate/spatial/{model}.json"),
    log:
        logs("evaluate_spatial/{model}.log"),
    benchmark:
        benchmarks("evaluate_spatial/{model}.tsv")
    conda:
        ENV
    threads: job_threads("evaluate")
    resources:
        **job_resources("evaluate"),
    params:
        evaluate=EVAL,
        period=config["period"],
    script:
        "../scripts/evaluate_spatial.py"


rule evaluate_label_expansion:
    """CSDI, kriging and basis-function labels on hidden observed site-months (CRPS, MAE); kriging label set."""
    input:
        unpack(lambda wildcards: BASIS_HOLDOUT),
        csdi=results("dere/step5/holdout_samples.parquet"),
        insitu=resources_path("prepared/insitu_monthly.parquet"),
        sites=resources_path("prepared/sites.parquet"),
        process_model=resources_path("process_model.zarr"),
        dataset=DERE_DATASET,
        code=code_stamp("evaluate", "metrics", "train"),
    output:
        table=report(
            results("evaluate/label_expansion.csv"),
            caption="../report/label_expansion_table.rst",
            category="4. Label expansion",
        ),
        figure=report(
            results("evaluate/label_expansion.png"),
            caption="../report/label_expansion.rst",
            category="4. Label expansion",
        ),
        labels=results("evaluate/kriging_labels.parquet"),
    log:
        logs("evaluate_label_expansion.log"),
    benchmark:
        benchmarks("evaluate_label_expansion.tsv")
    conda:
        ENV
    threads: job_threads("evaluate")
    resources:
        **job_resources("evaluate"),
    params:
        evaluate=EVAL,
        seed=config["run"]["seed"],
    script:
        "../scripts/evaluate_label_expansion.py"


# Step-6 skill per label set: predictions folder -> label in the table (the first is the reference).
LABEL_SET_MODELS = {
    "step4": "step 4 (observations only)",
    "step6": "step 6 (CSDI labels)",
    "step6_kriging": "step 6 (kriging labels)",
} | ({"step6_basis": "step 6 (basis labels)"} if config["basis"]["enabled"] else {})


rule evaluate_label_expansion_skill:
    """DERE skill per label set at held-out sites: step 4 vs step 6 on CSDI labels vs step 6 on kriging labels."""
    input:
        unpack(lambda wildcards: {**TRUTH_FLUXES, **TRUTH_SITES}),
        predictions=[results(f"dere/{m}/predictions.parquet") for m in LABEL_SET_MODELS],
        insitu=resources_path("prepared/insitu_monthly.parquet"),
        sites=resources_path("prepared/sites.parquet"),
        code=code_stamp("evaluate", "metrics"),
    output:
        table=report(
            results("evaluate/label_expansion_skill.csv"),
            caption="../report/label_expansion_skill_table.rst",
            category="4. Label expansion",
        ),
        figure=report(
            results("evaluate/label_expansion_skill.png"),
            caption="../report/label_expansion_skill.rst",
            category="4. Label expansion",
        ),
    log:
        logs("evaluate_label_expansion_skill.log"),
    benchmark:
        benchmarks("evaluate_label_expansion_skill.tsv")
    conda:
        ENV
    threads: job_threads("evaluate")
    resources:
        **job_resources("evaluate"),
    params:
        label_sets=list(LABEL_SET_MODELS.values()),
        period=config["period"],
    script:
        "../scripts/evaluate_label_expansion_skill.py"


rule evaluate_ide:
    """The IDE paper's table: every IDE run and every baseline, test and validation scores."""
    input:
        metrics=[results(f"ide/{name}/metrics.json") for name in IDE_MODELS],
        baselines=IDE_BASELINE_SCORES,
        code=code_stamp("evaluate", "ide/table"),
    output:
        scores=report(
            results("evaluate/ide_scores.csv"),
            caption="../report/ide_scores_table.rst",
            category="5. IDE extreme drivers",
        ),
        table=report(
            results("evaluate/ide_table.csv"),
            caption="../report/ide_table.rst",
            category="5. IDE extreme drivers",
        ),
        figure=report(
            results("evaluate/ide_scores.png"),
            caption="../report/ide_scores.rst",
            category="5. IDE extreme drivers",
        ),
    log:
        logs("evaluate_ide.log"),
    benchmark:
        benchmarks("evaluate_ide.tsv")
    conda:
        ENV
    threads: job_threads("evaluate")
    resources:
        **job_resources("evaluate"),
    params:
        names=IDE_MODELS,
        baseline_names=[
            f"{d}_{m}" for d, methods in IDE_BASELINE_RUNS.items() for m in methods
        ],
    script:
        "../scripts/evaluate_ide.py"


rule evaluate_ide_maps:
    """Maps of one IDE model at the test week with the most extremes: P(extreme), true extremes, drivers."""
    input:
        unpack(
            lambda wc: (
                {"truth": IDE_TRUTH[IDE_RUN_DATASET[wc.model]]}
                if IDE_RUN_DATASET[wc.model] in IDE_TRUTH
                else {}
            )
        ),
        predictions=results("ide/{model}/predictions.zarr"),
        dataset=lambda wc: resources_path(
            f"ide/{IDE_RUN_DATASET[wc.model]}/dataset.zarr"
        ),
        code=code_stamp("evaluate"),
    output:
        figure=report(
            results("evaluate/ide_maps/{model}.png"),
            caption="../report/ide_maps.rst",
            category="5. IDE extreme drivers",
            subcategory="{model}",
        ),
    log:
        logs("evaluate_ide_maps/{model}.log"),
    benchmark:
        benchmarks("evaluate_ide_maps/{model}.tsv")
    wildcard_constraints:
        model="|".join(IDE_MODELS),
    conda:
        ENV
    threads: job_threads("evaluate")
    resources:
        **job_resources("evaluate"),
    params:
        week=EVAL["ide_map_week"],
    script:
        "../scripts/evaluate_ide_maps.py"


ALL_TARGETS.append(results("manifest.json"))
ALL_TARGETS.append(results("evaluate/dere_skill.csv"))
ALL_TARGETS.append(results("evaluate/label_expansion.csv"))
ALL_TARGETS.append(results("evaluate/label_expansion_skill.csv"))
ALL_TARGETS.append(results("evaluate/ide_table.csv"))
ALL_TARGETS.extend(  # the first seed of each model
    results(f"evaluate/ide_maps/{model}.png")
    for model in IDE_MODELS
    if model.endswith("_seed0")
)
ALL_TARGETS.extend(
    results(f"evaluate/{kind}/{model}.png")
    for kind in ("maps", "spatial")
    for model in EVAL["dere_models"]
)
