# Layer 'prepare': raw files -> the analysis-ready stores of resources/{run}/prepared/ (docs/data-layout.md).
# The only layer that reads raw formats (the readers terraflux.sources.<source>.read); the library is
# terraflux.prepare. Raw paths come from the source modules (terraflux.sources.<source>).

from terraflux.prepare import parts
from terraflux.sources import cerra, era5_land, insitu, land_cover, vhp

MONTHS = [f"{m:02d}" for m in range(1, 13)]
# Months of the period, in the order in which expand() lists the monthly inputs (year, then month).
PERIOD_MONTHS = [[year, int(month)] for year in YEARS for month in MONTHS]
ERA5_PATTERN = era5_land.PATHS[config["sources"]["era5_land"]["product"]]
LAND_COVER_PRODUCT = config["sources"]["land_cover"]["product"]
# The land-cover map of each year of the period (the nearest year with a map outside the product's range).
LAND_COVER_MAP_YEARS = [land_cover.map_year(y, LAND_COVER_PRODUCT) for y in YEARS]
INSITU_FORMAT = config["sources"]["insitu"]["format"]
CERRA_FORECAST = bool(config["sources"]["cerra"]["forecast_variables"])
# The CERRA files of each month: the analysis, and the forecast when forecast variables are asked for.
CERRA_PRODUCTS = ["analysis", "forecast"] if CERRA_FORECAST else ["analysis"]
# The daily CERRA store only when a stage reads it (the downscaling pair cerra_daily).
CERRA_DAILY = (
    config["downscale"]["enabled"] and config["downscale"]["fine"] == "cerra_daily"
)
CERRA_DAILY_OUTPUT = (
    {"daily": directory(resources_path("prepared/cerra_daily.zarr"))}
    if CERRA_DAILY
    else {}
)
# Satellite code in the VHP file names, per year (synthetic world: one code; real data: by period).
try:
    VHP_SATELLITE = {
        year: (
            config["synthetic"]["vhp_satellite"]
            if config["run"]["origin"] == "synthetic"
            else vhp.satellite(year, config["sources"]["vhp"]["satellites"])
        )
        for year in YEARS
    }
except ConfigError as _error:
    sys.exit(f"terraflux: {_error}")
# Weeks of the period, in the order of the weekly inputs.
PERIOD_WEEKS = [[year, week] for year in YEARS for week in range(1, vhp.WEEKS + 1)]
# Sources with a producer of their raw files in the acquire layer (download_* or synthesize_* rules).
ACQUIRED = {
    source
    for source in ("era5_land", "land_cover", "insitu", "cerra", "vhp")
    if any(
        r.name.startswith((f"download_{source}", f"synthesize_{source}"))
        for r in workflow.rules
    )
}

# Preparation in parts (config prepare.part_years > 0; docs/cluster.md): one job per run of years, plus an
# init job that creates the stores and a finalise job. PARTS: part label -> (first year, last year).
PART_YEARS = config["prepare"]["part_years"]
PARTS = {
    parts.label(*years): years
    for years in (
        parts.year_parts(YEARS[0], YEARS[-1], PART_YEARS) if PART_YEARS else []
    )
}
# The months a part reads: its own and, unless the period ends with it, the next one (accumulations).
PART_MONTHS = {
    name: [
        [y, m]
        for y, m in PERIOD_MONTHS
        if first <= y <= last or (y, m) == (last + 1, 1)
    ]
    for name, (first, last) in PARTS.items()
}
PARTS_DIR = resources_path("prepared/.parts")


PREPARED = {
    name: resources_path(f"prepared/{name}")
    for name in (
        "era5_land_daily.zarr",
        "era5_land_weekly.zarr",
        "era5_land_monthly.zarr",
        "pft.zarr",
        "sites.parquet",
        "insitu_daily.parquet",
        "insitu_monthly.parquet",
    )
}


if PART_YEARS:

    rule prepare_era5_land_init:
        """Create the empty ERA5-Land daily, weekly and monthly stores of the period (staging, for the parts)."""
        input:
            first=raw(ERA5_PATTERN.format(year=YEARS[0], month="01")),
            code=code_stamp("data", "sources", "prepare"),
        output:
            stores=temp(directory(f"{PARTS_DIR}/era5_land/stores")),
        log:
            logs("prepare_era5_land/init.log"),
        benchmark:
            benchmarks("prepare_era5_land/init.tsv")
        priority: CHAIN_PRIORITY
        conda:
            ENV
        threads: 1
        resources:
            **job_resources("prepare"),
        params:
            era5_land=config["sources"]["era5_land"],
            region=config["region"],
            period=config["period"],
            factor=config["prepare"]["model_grid_factor"],
        script:
            "../scripts/prepare_era5_land_init.py"

    rule prepare_era5_land_part:
        """Reduce the months of one part (a run of years) into the ERA5-Land stores; publish the part folder."""
        input:
            stores=f"{PARTS_DIR}/era5_land/stores",
            files=lambda w: [
                raw(ERA5_PATTERN.format(year=y, month=f"{m:02d}"))
                for y, m in PART_MONTHS[w.part]
            ],
            code=code_stamp("data", "sources", "prepare"),
        output:
            part=temp(directory(f"{PARTS_DIR}/era5_land/part-{{part}}")),
        log:
            logs("prepare_era5_land/part-{part}.log"),
        benchmark:
            benchmarks("prepare_era5_land/part-{part}.tsv")
        wildcard_constraints:
            part=r"\d{4}(-\d{4})?",
        priority: CHAIN_PRIORITY
        conda:
            ENV
        threads: job_threads("prepare")
        resources:
            **job_resources("prepare"),
        params:
            era5_land=config["sources"]["era5_land"],
            region=config["region"],
            period=config["period"],
            prepare={
                k: config["prepare"][k] for k in ("model_grid_factor", "strict_months")
            },
            plausible=plausibility_settings("era5_land"),
            months=lambda w: PART_MONTHS[w.part],
            years=lambda w: list(PARTS[w.part]),
        script:
            "../scripts/prepare_era5_land_part.py"

    rule prepare_era5_land_finalise:
        """Shared chunks, land masks, training statistics and climatologies of the ERA5-Land stores; publish them."""
        input:
            stores=f"{PARTS_DIR}/era5_land/stores",
            parts=expand(f"{PARTS_DIR}/era5_land/part-{{part}}", part=PARTS),
            code=code_stamp("data", "sources", "prepare"),
        output:
            daily=directory(PREPARED["era5_land_daily.zarr"]),
            weekly=directory(PREPARED["era5_land_weekly.zarr"]),
            monthly=directory(PREPARED["era5_land_monthly.zarr"]),
        log:
            logs("prepare_era5_land/finalise.log"),
        benchmark:
            benchmarks("prepare_era5_land/finalise.tsv")
        priority: CHAIN_PRIORITY
        conda:
            ENV
        threads: 1
        resources:
            **job_resources("prepare"),
        params:
            period=config["period"],
            factor=config["prepare"]["model_grid_factor"],
        script:
            "../scripts/prepare_era5_land_finalise.py"

else:

    rule prepare_era5_land:
        """ERA5-Land monthly files -> daily, weekly (IDE) and monthly model-grid (DERE) stores, streaming."""
        input:
            files=expand(raw(ERA5_PATTERN), year=YEARS, month=MONTHS),
            code=code_stamp("data", "sources", "prepare"),
        output:
            daily=directory(PREPARED["era5_land_daily.zarr"]),
            weekly=directory(PREPARED["era5_land_weekly.zarr"]),
            monthly=directory(PREPARED["era5_land_monthly.zarr"]),
        log:
            logs("prepare_era5_land.log"),
        benchmark:
            benchmarks("prepare_era5_land.tsv")
        priority: CHAIN_PRIORITY
        conda:
            ENV
        threads: job_threads("prepare")
        resources:
            **job_resources("prepare"),
        params:
            era5_land=config["sources"]["era5_land"],
            region=config["region"],
            period=config["period"],
            prepare={
                k: config["prepare"][k] for k in ("model_grid_factor", "strict_months")
            },
            plausible=plausibility_settings("era5_land"),
            months=PERIOD_MONTHS,
        script:
            "../scripts/prepare_era5_land.py"


rule prepare_pft:
    """Yearly land-cover maps -> BL/NL/GS/other and 14-PFT fractions per model-grid cell (pft.zarr)."""
    input:
        files=[
            raw(land_cover.raw_path(LAND_COVER_PRODUCT, y))
            for y in LAND_COVER_MAP_YEARS
        ],
        monthly=PREPARED["era5_land_monthly.zarr"],
        crosswalk=repo_file("src/terraflux/data/lccs_pft_crosswalk.csv"),
        groups=repo_file("src/terraflux/data/pft_groups.csv"),
        code=code_stamp("data", "sources", "prepare"),
    output:
        pft=directory(PREPARED["pft.zarr"]),
    log:
        logs("prepare_pft.log"),
    benchmark:
        benchmarks("prepare_pft.tsv")
    conda:
        ENV
    threads: job_threads("prepare")
    resources:
        **job_resources("prepare"),
    params:
        land_cover=config["sources"]["land_cover"],
        years=YEARS,
        map_years=LAND_COVER_MAP_YEARS,
    script:
        "../scripts/prepare_pft.py"


if PART_YEARS:

    rule prepare_cerra_init:
        """Create the empty CERRA weekly store of the period on the native grid (staging, for the parts)."""
        input:
            first=[
                raw(cerra.PATH.format(product=product, year=YEARS[0], month="01"))
                for product in CERRA_PRODUCTS
            ],
            code=code_stamp("data", "sources", "prepare"),
        output:
            stores=temp(directory(f"{PARTS_DIR}/cerra/stores")),
        log:
            logs("prepare_cerra/init.log"),
        benchmark:
            benchmarks("prepare_cerra/init.tsv")
        priority: CHAIN_PRIORITY
        conda:
            ENV
        threads: 1
        resources:
            **job_resources("prepare"),
        params:
            period=config["period"],
            cerra=config["prepare"]["cerra"],
            daily=CERRA_DAILY,
        script:
            "../scripts/prepare_cerra_init.py"

    rule prepare_cerra_part:
        """Reduce the months of one part (a run of years) into the CERRA weekly store; publish the part folder."""
        input:
            stores=f"{PARTS_DIR}/cerra/stores",
            files=lambda w: [
                raw(cerra.PATH.format(product=product, year=y, month=f"{m:02d}"))
                for y, m in PERIOD_MONTHS
                if PARTS[w.part][0] <= y <= PARTS[w.part][1]
                for product in CERRA_PRODUCTS
            ],
            code=code_stamp("data", "sources", "prepare"),
        output:
            part=temp(directory(f"{PARTS_DIR}/cerra/part-{{part}}")),
        log:
            logs("prepare_cerra/part-{part}.log"),
        benchmark:
            benchmarks("prepare_cerra/part-{part}.tsv")
        wildcard_constraints:
            part=r"\d{4}(-\d{4})?",
        priority: CHAIN_PRIORITY
        conda:
            ENV
        threads: job_threads("prepare")
        resources:
            **job_resources("prepare"),
        params:
            period=config["period"],
            cerra=config["prepare"]["cerra"],
            plausible=plausibility_settings("cerra"),
            products=len(CERRA_PRODUCTS),
            years=lambda w: list(PARTS[w.part]),
        script:
            "../scripts/prepare_cerra_part.py"

    rule prepare_cerra_finalise:
        """Shared chunks, land mask and climatology (or the reprojection) of the CERRA weekly store; publish it."""
        input:
            stores=f"{PARTS_DIR}/cerra/stores",
            parts=expand(f"{PARTS_DIR}/cerra/part-{{part}}", part=PARTS),
            code=code_stamp("data", "sources", "prepare"),
        output:
            **CERRA_DAILY_OUTPUT,
            weekly=directory(resources_path("prepared/cerra_weekly.zarr")),
        log:
            logs("prepare_cerra/finalise.log"),
        benchmark:
            benchmarks("prepare_cerra/finalise.tsv")
        priority: CHAIN_PRIORITY
        conda:
            ENV
        threads: 1
        resources:
            **job_resources("prepare"),
        params:
            period=config["period"],
            cerra=config["prepare"]["cerra"],
        script:
            "../scripts/prepare_cerra_finalise.py"

else:

    rule prepare_cerra:
        """CERRA GRIB2 monthly files -> weekly statistics on the native Lambert grid, or reprojected (cerra_weekly.zarr)."""
        input:
            analysis=expand(
                raw(cerra.PATH), product="analysis", year=YEARS, month=MONTHS
            ),
            forecast=(
                expand(raw(cerra.PATH), product="forecast", year=YEARS, month=MONTHS)
                if CERRA_FORECAST
                else []
            ),
            code=code_stamp("data", "sources", "prepare"),
        output:
            **CERRA_DAILY_OUTPUT,
            weekly=directory(resources_path("prepared/cerra_weekly.zarr")),
        log:
            logs("prepare_cerra.log"),
        benchmark:
            benchmarks("prepare_cerra.tsv")
        priority: CHAIN_PRIORITY
        conda:
            ENV
        threads: job_threads("prepare")
        resources:
            **job_resources("prepare"),
        params:
            period=config["period"],
            cerra=config["prepare"]["cerra"],
            plausible=plausibility_settings("cerra"),
            months=PERIOD_MONTHS,
        script:
            "../scripts/prepare_cerra.py"


if PART_YEARS:

    rule prepare_vhp_init:
        """Create the empty VHP store on the weekly grid of one extremes dataset (staging, for the parts)."""
        input:
            weekly=resources_path("prepared/{dataset}_weekly.zarr"),
            code=code_stamp("data", "sources", "prepare"),
        output:
            stores=temp(directory(f"{PARTS_DIR}/vhp_{{dataset}}/stores")),
        log:
            logs("prepare_vhp/{dataset}/init.log"),
        benchmark:
            benchmarks("prepare_vhp/{dataset}/init.tsv")
        wildcard_constraints:
            dataset="era5_land|cerra",
        conda:
            ENV
        threads: 1
        resources:
            **job_resources("prepare"),
        script:
            "../scripts/prepare_vhp_init.py"

    rule prepare_vhp_part:
        """Regrid the VHP weeks of one part (a run of years) into the VHP store; publish the part folder."""
        input:
            stores=f"{PARTS_DIR}/vhp_{{dataset}}/stores",
            weekly=resources_path("prepared/{dataset}_weekly.zarr"),
            files=lambda w: [
                raw(vhp.raw_path(VHP_SATELLITE[y], y, week))
                for y, week in PERIOD_WEEKS
                if PARTS[w.part][0] <= y <= PARTS[w.part][1]
            ],
            code=code_stamp("data", "sources", "prepare"),
        output:
            part=temp(directory(f"{PARTS_DIR}/vhp_{{dataset}}/part-{{part}}")),
        log:
            logs("prepare_vhp/{dataset}/part-{part}.log"),
        benchmark:
            benchmarks("prepare_vhp/{dataset}/part-{part}.tsv")
        wildcard_constraints:
            dataset="era5_land|cerra",
            part=r"\d{4}(-\d{4})?",
        conda:
            ENV
        threads: 1
        resources:
            **job_resources("prepare"),
        params:
            weeks=lambda w: [
                [y, week]
                for y, week in PERIOD_WEEKS
                if PARTS[w.part][0] <= y <= PARTS[w.part][1]
            ],
            years=lambda w: list(PARTS[w.part]),
            plausible=plausibility_settings("vhp"),
        script:
            "../scripts/prepare_vhp_part.py"

    rule prepare_vhp_finalise:
        """Shared chunks and notes of the VHP store of one extremes dataset; publish it."""
        input:
            stores=f"{PARTS_DIR}/vhp_{{dataset}}/stores",
            parts=expand(
                f"{PARTS_DIR}/vhp_{{dataset}}/part-{{part}}",
                part=PARTS,
                allow_missing=True,
            ),
            code=code_stamp("data", "sources", "prepare"),
        output:
            vhp=directory(resources_path("prepared/vhp_{dataset}.zarr")),
        log:
            logs("prepare_vhp/{dataset}/finalise.log"),
        benchmark:
            benchmarks("prepare_vhp/{dataset}/finalise.tsv")
        wildcard_constraints:
            dataset="era5_land|cerra",
        conda:
            ENV
        threads: 1
        resources:
            **job_resources("prepare"),
        params:
            period=config["period"],
        script:
            "../scripts/prepare_vhp_finalise.py"

else:

    rule prepare_vhp:
        """NOAA VHP weekly VHI -> VHI and extremes masks on the weekly grid of one extremes dataset."""
        input:
            files=[raw(vhp.raw_path(VHP_SATELLITE[y], y, w)) for y, w in PERIOD_WEEKS],
            weekly=resources_path("prepared/{dataset}_weekly.zarr"),
            code=code_stamp("data", "sources", "prepare"),
        output:
            vhp=directory(resources_path("prepared/vhp_{dataset}.zarr")),
        log:
            logs("prepare_vhp/{dataset}.log"),
        benchmark:
            benchmarks("prepare_vhp/{dataset}.tsv")
        wildcard_constraints:
            dataset="era5_land|cerra",
        conda:
            ENV
        threads: 1
        resources:
            **job_resources("prepare"),
        params:
            weeks=PERIOD_WEEKS,
            plausible=plausibility_settings("vhp"),
        script:
            "../scripts/prepare_vhp.py"


rule prepare_insitu:
    """In-situ site files -> site table and daily/monthly GPP, RECO, NEE (gC m-2 d-1) per site (parquet)."""
    input:
        sites=raw(insitu.raw_path(INSITU_FORMAT)),
        monthly=PREPARED["era5_land_monthly.zarr"],
        code=code_stamp("data", "sources", "prepare"),
    output:
        sites=PREPARED["sites.parquet"],
        daily=PREPARED["insitu_daily.parquet"],
        monthly=PREPARED["insitu_monthly.parquet"],
    log:
        logs("prepare_insitu.log"),
    benchmark:
        benchmarks("prepare_insitu.tsv")
    conda:
        ENV
    threads: 1
    resources:
        **job_resources("prepare"),
    params:
        insitu_format=INSITU_FORMAT,
        period=config["period"],
        insitu=config["prepare"]["insitu"],
    script:
        "../scripts/prepare_insitu.py"


# Final targets only for sources whose raw files some acquire rule produces (the default dry run stays valid
# while a producer is being written).
if "era5_land" in ACQUIRED:
    ALL_TARGETS.extend(
        PREPARED[f"era5_land_{k}.zarr"] for k in ("daily", "weekly", "monthly")
    )
    if "land_cover" in ACQUIRED:
        ALL_TARGETS.append(PREPARED["pft.zarr"])
    if "insitu" in ACQUIRED:
        ALL_TARGETS.extend(
            PREPARED[k]
            for k in ("sites.parquet", "insitu_daily.parquet", "insitu_monthly.parquet")
        )
    if "cerra" in ACQUIRED and config["sources"]["cerra"]["enabled"]:
        ALL_TARGETS.append(resources_path("prepared/cerra_weekly.zarr"))
    if "vhp" in ACQUIRED:
        ALL_TARGETS.append(resources_path("prepared/vhp_era5_land.zarr"))
        if "cerra" in ACQUIRED and config["sources"]["cerra"]["enabled"]:
            ALL_TARGETS.append(resources_path("prepared/vhp_cerra.zarr"))
