# Layer 'spatial': downscaling with a transfer encoder and a conditional diffusion model (docs/spatial.md),
# CPU-only jobs (compute.cpu_model) that hold the whole pair in memory.
# Inputs are prepared stores (docs/data-layout.md); the fine store is also the truth the scores use.

DOWNSCALE = config["downscale"]
DOWNSCALE_KINDS = ["diffusion", "unet"]
DOWNSCALE_DATASET = resources_path("downscale/dataset.zarr")
DOWNSCALE_ENCODER = results("downscale/encoder/checkpoint.pt")
# The deterministic U-Net a diffusion model with `around_unet` generates its residual around (CorrDiff).
DOWNSCALE_REGRESSION = (
    {"unet": results("downscale/unet/checkpoint.pt")}
    if DOWNSCALE["diffusion"]["around_unet"]
    else {}
)
# The pretraining comparison trains plain diffusion models (no U-Net per encoder).
DOWNSCALE_OPTION_MODEL = {**DOWNSCALE["diffusion"], "around_unet": False}


rule downscale_dataset:
    """Coarse/fine pairs on the fine grid, split by time, statistics from the training years."""
    input:
        coarse=resources_path(f"prepared/{DOWNSCALE['coarse']}.zarr"),
        fine=resources_path(f"prepared/{DOWNSCALE['fine']}.zarr"),
        code=code_stamp("spatial", "train", "evaluate/semivariogram"),
    output:
        dataset=directory(DOWNSCALE_DATASET),
    log:
        logs("downscale_dataset.log"),
    benchmark:
        benchmarks("downscale_dataset.tsv")
    priority: CHAIN_PRIORITY
    conda:
        ENV
    threads: job_threads("prepare")
    resources:
        **job_resources("prepare"),
    params:
        downscale=DOWNSCALE,
        period=config["period"],
        mem_mb=config["compute"]["cpu_model"]["mem_mb"],
    script:
        "../scripts/downscale_dataset.py"


rule downscale_encoder:
    """Transfer encoder: a light U-Net encoder pretrained on the coarse series of the whole period."""
    input:
        dataset=DOWNSCALE_DATASET,
        code=code_stamp("spatial", "train", "evaluate/semivariogram"),
    output:
        checkpoint=DOWNSCALE_ENCODER,
    log:
        logs("downscale_encoder.log"),
    benchmark:
        benchmarks("downscale_encoder.tsv")
    priority: CHAIN_PRIORITY
    conda:
        ENV
    threads: job_threads("cpu_model")
    resources:
        **job_resources("cpu_model"),
    params:
        encoder=DOWNSCALE["encoder"],
        seed=config["run"]["seed"],
    script:
        "../scripts/downscale_encoder.py"


rule downscale_train:
    """Conditional diffusion model of the residual (kind diffusion) or the deterministic U-Net baseline (unet)."""
    input:
        unpack(
            lambda wildcards: (
                DOWNSCALE_REGRESSION if wildcards.kind == "diffusion" else {}
            )
        ),
        dataset=DOWNSCALE_DATASET,
        encoder=DOWNSCALE_ENCODER,
        code=code_stamp("spatial", "train", "evaluate/semivariogram"),
    output:
        checkpoint=results("downscale/{kind}/checkpoint.pt"),
    log:
        logs("downscale_train/{kind}.log"),
    benchmark:
        benchmarks("downscale_train/{kind}.tsv")
    wildcard_constraints:
        kind="diffusion|unet",
    priority: CHAIN_PRIORITY
    conda:
        ENV
    threads: job_threads("cpu_model")
    resources:
        **job_resources("cpu_model"),
    params:
        kind=lambda wildcards: wildcards.kind,
        model=lambda wildcards: DOWNSCALE[wildcards.kind],
        seed=config["run"]["seed"],
    script:
        "../scripts/downscale_train.py"


rule downscale_predict:
    """Autoregressive reconstruction of the fine series over the whole period (diffusion: DDIM ensemble)."""
    input:
        unpack(
            lambda wildcards: (
                DOWNSCALE_REGRESSION if wildcards.kind == "diffusion" else {}
            )
        ),
        dataset=DOWNSCALE_DATASET,
        encoder=DOWNSCALE_ENCODER,
        checkpoint=results("downscale/{kind}/checkpoint.pt"),
        code=code_stamp("spatial", "train", "evaluate/semivariogram"),
    output:
        predictions=directory(results("downscale/{kind}/predictions.zarr")),
    log:
        logs("downscale_predict/{kind}.log"),
    benchmark:
        benchmarks("downscale_predict/{kind}.tsv")
    wildcard_constraints:
        kind="diffusion|unet",
    priority: CHAIN_PRIORITY
    conda:
        ENV
    threads: job_threads("cpu_model")
    resources:
        **job_resources("cpu_model"),
    params:
        kind=lambda wildcards: wildcards.kind,
        model=lambda wildcards: DOWNSCALE[wildcards.kind],
        seed=config["run"]["seed"],
    script:
        "../scripts/downscale_predict.py"


rule evaluate_downscale:
    """Bilinear, bicubic, U-Net and diffusion against the fine truth: skill, structure, lead curves, domains."""
    input:
        dataset=DOWNSCALE_DATASET,
        diffusion=results("downscale/diffusion/predictions.zarr"),
        unet=results("downscale/unet/predictions.zarr"),
        code=code_stamp("spatial", "evaluate", "metrics"),
    output:
        skill=report(
            results("evaluate/downscale_skill.csv"),
            caption="../report/downscale_skill.rst",
            category="5. Downscaling",
        ),
        structure=report(
            results("evaluate/downscale_structure.csv"),
            caption="../report/downscale_structure.rst",
            category="5. Downscaling",
        ),
        lead=results("evaluate/downscale_lead.csv"),
        domain=report(
            results("evaluate/downscale_domain.csv"),
            caption="../report/downscale_domain.rst",
            category="5. Downscaling",
        ),
        maps=report(
            results("evaluate/downscale_maps.png"),
            caption="../report/downscale_maps.rst",
            category="5. Downscaling",
        ),
        structure_figure=report(
            results("evaluate/downscale_structure.png"),
            caption="../report/downscale_structure_figure.rst",
            category="5. Downscaling",
        ),
        lead_figure=report(
            results("evaluate/downscale_lead.png"),
            caption="../report/downscale_lead.rst",
            category="5. Downscaling",
        ),
        json=results("evaluate/downscale.json"),
    log:
        logs("evaluate_downscale.log"),
    benchmark:
        benchmarks("evaluate_downscale.tsv")
    priority: CHAIN_PRIORITY
    conda:
        ENV
    threads: job_threads("evaluate")
    resources:
        **job_resources("evaluate"),
    params:
        evaluate=DOWNSCALE["evaluate"],
        fine=DOWNSCALE["fine"],
    script:
        "../scripts/evaluate_downscale.py"


# The pretraining options compared by downstream skill: encoder, diffusion model and reconstruction each.
use rule downscale_encoder as downscale_encoder_option with:
    output:
        checkpoint=results("downscale/pretrain/{pretrain}/encoder.pt"),
    log:
        logs("downscale_encoder_option/{pretrain}.log"),
    benchmark:
        benchmarks("downscale_encoder_option/{pretrain}.tsv")
    params:
        encoder=lambda wildcards: {
            **DOWNSCALE["encoder"],
            "pretrain": wildcards.pretrain,
        },
        seed=config["run"]["seed"],


use rule downscale_train as downscale_train_option with:
    input:
        dataset=DOWNSCALE_DATASET,
        encoder=results("downscale/pretrain/{pretrain}/encoder.pt"),
        code=code_stamp("spatial", "train", "evaluate/semivariogram"),
    output:
        checkpoint=results("downscale/pretrain/{pretrain}/diffusion.pt"),
    log:
        logs("downscale_train_option/{pretrain}.log"),
    benchmark:
        benchmarks("downscale_train_option/{pretrain}.tsv")
    params:
        kind="diffusion",
        model=DOWNSCALE_OPTION_MODEL,
        seed=config["run"]["seed"],


use rule downscale_predict as downscale_predict_option with:
    input:
        dataset=DOWNSCALE_DATASET,
        encoder=results("downscale/pretrain/{pretrain}/encoder.pt"),
        checkpoint=results("downscale/pretrain/{pretrain}/diffusion.pt"),
        code=code_stamp("spatial", "train", "evaluate/semivariogram"),
    output:
        predictions=directory(results("downscale/pretrain/{pretrain}/predictions.zarr")),
    log:
        logs("downscale_predict_option/{pretrain}.log"),
    benchmark:
        benchmarks("downscale_predict_option/{pretrain}.tsv")
    params:
        kind="diffusion",
        model=DOWNSCALE_OPTION_MODEL,
        seed=config["run"]["seed"],


rule evaluate_downscale_pretrain:
    """Downstream downscaling skill of the diffusion model per encoder pretraining option, in one table."""
    input:
        dataset=DOWNSCALE_DATASET,
        predictions=expand(
            results("downscale/pretrain/{pretrain}/predictions.zarr"),
            pretrain=DOWNSCALE["compare_pretrain"],
        ),
        code=code_stamp("spatial", "evaluate", "metrics"),
    output:
        table=report(
            results("evaluate/downscale_pretrain.csv"),
            caption="../report/downscale_pretrain.rst",
            category="5. Downscaling",
        ),
    log:
        logs("evaluate_downscale_pretrain.log"),
    benchmark:
        benchmarks("evaluate_downscale_pretrain.tsv")
    conda:
        ENV
    threads: job_threads("evaluate")
    resources:
        **job_resources("evaluate"),
    params:
        options=DOWNSCALE["compare_pretrain"],
        evaluate=DOWNSCALE["evaluate"],
    script:
        "../scripts/evaluate_downscale_pretrain.py"


# A final target only when some rule produces the fine store's raw files (CERRA may be switched off).
DOWNSCALE_SOURCE = "cerra" if DOWNSCALE["fine"].startswith("cerra") else "era5_land"
if (
    DOWNSCALE["enabled"]
    and DOWNSCALE_SOURCE in ACQUIRED
    and config["sources"].get(DOWNSCALE_SOURCE, {}).get("enabled", True)
):
    ALL_TARGETS.append(results("evaluate/downscale_skill.csv"))
    if DOWNSCALE["compare_pretrain"]:
        ALL_TARGETS.append(results("evaluate/downscale_pretrain.csv"))


rule basis_labels:
    """Basis-function labels (EOFs x covariate network) at training sites, samples at hidden site-months; maps."""
    input:
        unpack(lambda wildcards: TRUTH_FLUXES),
        insitu=resources_path("prepared/insitu_monthly.parquet"),
        sites=resources_path("prepared/sites.parquet"),
        process_model=resources_path("process_model.zarr"),
        climate=resources_path("prepared/era5_land_monthly.zarr"),
        dataset=resources_path("dere/dataset.zarr"),
        holdout=results("dere/step5/holdout_samples.parquet"),
        code=code_stamp("spatial", "evaluate", "metrics", "train"),
    output:
        labels=results("evaluate/basis_labels.parquet"),
        holdout=results("basis/holdout_samples.parquet"),
        maps=directory(results("basis/maps.zarr")),
        map_scores=report(
            results("evaluate/basis_maps.csv"),
            caption="../report/basis_maps.rst",
            category="4. Label expansion",
        ),
    log:
        logs("basis_labels.log"),
    benchmark:
        benchmarks("basis_labels.tsv")
    conda:
        ENV
    threads: job_threads("evaluate")
    resources:
        **job_resources("evaluate"),
    params:
        basis=config["basis"],
        period=config["period"],
        seed=config["run"]["seed"],
    script:
        "../scripts/basis_labels.py"


# The basis labels' samples at the hidden site-months, scored beside CSDI and kriging by evaluate_label_expansion.
BASIS_HOLDOUT = (
    {"basis": results("basis/holdout_samples.parquet")}
    if config["basis"]["enabled"]
    else {}
)
if config["basis"]["enabled"] and "insitu" in ACQUIRED:
    ALL_TARGETS.append(results("evaluate/basis_maps.csv"))
