# Synthetic-world rules: synthesize_<source>. See acquire.smk.
# One rule draws the small latent world (resources/{run}/synthetic/world.zarr) from run.seed and the
# `synthetic` knobs; per-year rules write every source's raw files from it, exactly at the paths and in
# the formats of docs/data-layout.md (the download_* rules write the same files); one rule writes the
# ground truth under resources/{run}/truth/ (read by evaluation only). Jobs are per year, not per month:
# each writes 12 months in one process (a job's interpreter start-up costs as much as a month's file).

from terraflux.sources import cerra, era5_land, insitu, land_cover, vhp
from terraflux.synthetic.world import check_config as _check_synthetic

SYN_SOURCES = config["sources"]
SYN_MONTHS = [f"{m:02d}" for m in range(1, 13)]
SYN_WEEKS = [f"{w:03d}" for w in range(1, vhp.WEEKS + 1)]
SYN_SATELLITE = config["synthetic"]["vhp_satellite"]
SYN_WORLD = resources_path("synthetic/world.zarr")
# The synthetic world and the format writers of the sources (not their readers: editing a reader must not
# redraw the world).
SYN_CODE = code_stamp(
    "data",
    "synthetic",
    "sources/*/__init__",
    "sources/limits",
    "sources/*/write",
    "sources/formats",
    "sources/download",
)

try:  # fail within seconds, before any job, on settings the synthetic world cannot honour
    _check_synthetic(config)
    insitu.check_origin(config)
except ConfigError as _error:
    sys.exit(f"terraflux: {_error}")

# Every raw file the synthetic world writes for this config.
SYN_RAW_TARGETS = expand(
    raw(era5_land.PATHS[SYN_SOURCES["era5_land"]["product"]]),
    year=YEARS,
    month=SYN_MONTHS,
)
if SYN_SOURCES["cerra"]["enabled"]:
    SYN_RAW_TARGETS += expand(
        raw(cerra.PATH), product=cerra.PRODUCTS, year=YEARS, month=SYN_MONTHS
    )
SYN_RAW_TARGETS += expand(raw(land_cover.PATHS["lccs"]), year=YEARS)
SYN_RAW_TARGETS += [raw(insitu.raw_path(SYN_SOURCES["insitu"]["format"]))]
SYN_RAW_TARGETS += expand(
    raw(vhp.PATH), satellite=SYN_SATELLITE, year=YEARS, week=SYN_WEEKS
)

SYNTHETIC_TRUTH = {
    "land": resources_path("truth/land.zarr"),
    "fluxes": resources_path("truth/fluxes.zarr"),
    "sites": resources_path("truth/sites.parquet"),
    "extremes": resources_path("truth/extremes.zarr"),
    "extremes_cerra": resources_path("truth/extremes_cerra.zarr"),
}


rule synthesize_world:
    """The latent synthetic world: land surface, weather processes, extremes and drivers, sites."""
    input:
        code=SYN_CODE,
    output:
        world=directory(SYN_WORLD),
    log:
        logs("synthesize_world.log"),
    benchmark:
        benchmarks("synthesize_world.tsv")
    conda:
        ENV
    threads: job_threads("synthesize")
    resources:
        **job_resources("synthesize"),
    params:
        world={
            "run": {"seed": config["run"]["seed"]},
            "region": config["region"],
            "period": {
                "start_year": config["period"]["start_year"],
                "end_year": config["period"]["end_year"],
            },
            "synthetic": config["synthetic"],
            "sources": {
                "era5_land": {"variables": SYN_SOURCES["era5_land"]["variables"]}
            },
        },
    script:
        "../scripts/synthesize_world.py"


rule synthesize_era5_land_hourly:
    """A year of hourly ERA5-Land files (one NetCDF per month, new-CDS layout)."""
    input:
        world=SYN_WORLD,
        code=SYN_CODE,
    output:
        files=expand(
            raw(era5_land.PATHS["hourly"]), month=SYN_MONTHS, allow_missing=True
        ),
    log:
        logs("synthesize_era5_land_hourly/{year}.log"),
    benchmark:
        benchmarks("synthesize_era5_land_hourly/{year}.tsv")
    priority: CHAIN_PRIORITY
    conda:
        ENV
    threads: job_threads("synthesize")
    resources:
        **job_resources("synthesize"),
    params:
        era5_land={
            k: SYN_SOURCES["era5_land"][k]
            for k in ("variables", "hours", "data_format")
        },
        as_zip=config["synthetic"]["era5_land_zip"],
        months=SYN_MONTHS,
        product="hourly",
    script:
        "../scripts/synthesize_era5_land.py"


rule synthesize_era5_land_daily:
    """A year of the ERA5-Land daily-statistics product (one zip of per-variable NetCDFs per month)."""
    input:
        world=SYN_WORLD,
        code=SYN_CODE,
    output:
        files=expand(
            raw(era5_land.PATHS["daily"]), month=SYN_MONTHS, allow_missing=True
        ),
    log:
        logs("synthesize_era5_land_daily/{year}.log"),
    benchmark:
        benchmarks("synthesize_era5_land_daily/{year}.tsv")
    conda:
        ENV
    threads: job_threads("synthesize")
    resources:
        **job_resources("synthesize"),
    params:
        era5_land={
            k: SYN_SOURCES["era5_land"][k] for k in ("variables", "daily_statistic")
        },
        months=SYN_MONTHS,
        product="daily",
    script:
        "../scripts/synthesize_era5_land.py"


rule synthesize_cerra:
    """A year of CERRA GRIB2 files: analysis fields and forecast-only precipitation, per month."""
    input:
        world=SYN_WORLD,
        code=SYN_CODE,
    output:
        analysis=expand(
            raw(cerra.PATH), product="analysis", month=SYN_MONTHS, allow_missing=True
        ),
        forecast=expand(
            raw(cerra.PATH), product="forecast", month=SYN_MONTHS, allow_missing=True
        ),
    log:
        logs("synthesize_cerra/{year}.log"),
    benchmark:
        benchmarks("synthesize_cerra/{year}.tsv")
    priority: CHAIN_PRIORITY
    conda:
        ENV
    threads: job_threads("synthesize")
    resources:
        **job_resources("synthesize"),
    params:
        cerra=SYN_SOURCES["cerra"],
        months=SYN_MONTHS,
    script:
        "../scripts/synthesize_cerra.py"


rule synthesize_land_cover:
    """The year's ESA-CCI / C3S land-cover zip (LCCS classes at 1/360 deg) over the region."""
    input:
        world=SYN_WORLD,
        code=SYN_CODE,
    output:
        data=raw(land_cover.PATHS["lccs"]),
    log:
        logs("synthesize_land_cover/{year}.log"),
    benchmark:
        benchmarks("synthesize_land_cover/{year}.tsv")
    conda:
        ENV
    threads: job_threads("synthesize")
    resources:
        **job_resources("synthesize"),
    params:
        land_cover=SYN_SOURCES["land_cover"],
    script:
        "../scripts/synthesize_land_cover.py"


rule synthesize_insitu:
    """Flux-tower sites: CarbonSense v1 folders or FLUXNET2015 FULLSET files (config insitu.format)."""
    input:
        world=SYN_WORLD,
        code=SYN_CODE,
    output:
        data=directory(raw(insitu.PATH)),
    log:
        logs("synthesize_insitu/{insitu_format}.log"),
    benchmark:
        benchmarks("synthesize_insitu/{insitu_format}.tsv")
    wildcard_constraints:
        insitu_format="|".join(insitu.FORMATS),
    conda:
        ENV
    threads: job_threads("synthesize")
    resources:
        **job_resources("synthesize"),
    script:
        "../scripts/synthesize_insitu.py"


rule synthesize_vhp:
    """A year of weekly NOAA VHP files (VHI, VCI, TCI) whose extremes the injected anomalies cause."""
    input:
        world=SYN_WORLD,
        code=SYN_CODE,
    output:
        files=expand(raw(vhp.PATH), week=SYN_WEEKS, allow_missing=True),
    log:
        logs("synthesize_vhp/{satellite}_{year}.log"),
    benchmark:
        benchmarks("synthesize_vhp/{satellite}_{year}.tsv")
    wildcard_constraints:
        satellite="[A-Za-z0-9]+",
    conda:
        ENV
    threads: job_threads("synthesize")
    resources:
        **job_resources("synthesize"),
    params:
        weeks=SYN_WEEKS,
    script:
        "../scripts/synthesize_vhp.py"


rule synthesize_truth:
    """The ground truth: PFT fractions and forest age, monthly fluxes, sites, extremes and drivers."""
    input:
        world=SYN_WORLD,
        code=SYN_CODE,
    output:
        land=directory(SYNTHETIC_TRUTH["land"]),
        fluxes=directory(SYNTHETIC_TRUTH["fluxes"]),
        sites=SYNTHETIC_TRUTH["sites"],
        extremes=directory(SYNTHETIC_TRUTH["extremes"]),
        extremes_cerra=directory(SYNTHETIC_TRUTH["extremes_cerra"]),
    log:
        logs("synthesize_truth.log"),
    benchmark:
        benchmarks("synthesize_truth.tsv")
    conda:
        ENV
    threads: job_threads("synthesize")
    resources:
        **job_resources("synthesize"),
    params:
        cerra={k: SYN_SOURCES["cerra"][k] for k in ("variables", "forecast_variables")},
    script:
        "../scripts/synthesize_truth.py"


rule synthesize_all:
    """Every raw file of the synthetic world and its ground truth (the offline raw layer)."""
    input:
        raw=SYN_RAW_TARGETS,
        truth=list(SYNTHETIC_TRUTH.values()),


ALL_TARGETS.extend(SYN_RAW_TARGETS)
ALL_TARGETS.extend(SYNTHETIC_TRUTH.values())
