# Layer 'prepare': raw files -> the analysis-ready stores of resources/{run}/prepared/ (docs/data-layout.md).
# The only layer that reads raw formats (terraflux.sources.readers); the library is terraflux.prepare.

from terraflux.sources import land_cover_year

MONTHS = [f"{m:02d}" for m in range(1, 13)]
ERA5_PRODUCT = config["sources"]["era5_land"]["product"]
ERA5_PATTERN = {
    "hourly": "era5_land/hourly/era5-land_{year}-{month}.nc",
    "daily": "era5_land/daily/era5-land-daily_{year}-{month}.zip",
}[ERA5_PRODUCT]
LAND_COVER_PATTERN = {
    "lccs": "land_cover/land-cover_LCCS_MAP_300m_{year}.zip",
    "pft": "land_cover/ESACCI-LC-L4-PFT-Map-300m-P1Y-{year}-v2.0.8.nc",
}[config["sources"]["land_cover"]["product"]]
# The land-cover map of each year of the period (the nearest year with a map outside the product's range).
LAND_COVER_MAP_YEARS = [
    land_cover_year(y, config["sources"]["land_cover"]["product"]) for y in YEARS
]
INSITU_FORMAT = config["sources"]["insitu"]["format"]
CERRA_PRODUCTS = ["analysis"] + (
    ["forecast"] if config["sources"]["cerra"]["forecast_variables"] else []
)
# Satellite code in the VHP file names, per year (synthetic world: one code; real data: by period).
VHP_SATELLITE = {
    year: (
        config["synthetic"]["vhp_satellite"]
        if config["run"]["origin"] == "synthetic"
        else config["sources"]["vhp"]["satellites"][
            max(
                (k for k in config["sources"]["vhp"]["satellites"] if int(k) <= year),
                key=int,
            )
        ]
    )
    for year in YEARS
}
# Sources with a producer of their raw files in the acquire layer (download_* or synthesize_* rules).
ACQUIRED = {
    source
    for source in ("era5_land", "land_cover", "insitu", "cerra", "vhp")
    if any(
        r.name.startswith((f"download_{source}", f"synthesize_{source}"))
        for r in workflow.rules
    )
}
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


rule prepare_era5_land:
    """ERA5-Land monthly files -> daily, weekly (IDE) and monthly model-grid (DERE) stores, streaming."""
    input:
        files=expand(raw(ERA5_PATTERN), year=YEARS, month=MONTHS),
        code=library("sources", "prepare"),
    output:
        daily=directory(PREPARED["era5_land_daily.zarr"]),
        weekly=directory(PREPARED["era5_land_weekly.zarr"]),
        monthly=directory(PREPARED["era5_land_monthly.zarr"]),
    log:
        logs("prepare_era5_land.log"),
    benchmark:
        benchmarks("prepare_era5_land.tsv")
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
    script:
        "../scripts/prepare_era5_land.py"


rule prepare_pft:
    """Yearly land-cover maps -> BL/NL/GS/other and 14-PFT fractions per model-grid cell (pft.zarr)."""
    input:
        files=[raw(LAND_COVER_PATTERN.format(year=y)) for y in LAND_COVER_MAP_YEARS],
        monthly=PREPARED["era5_land_monthly.zarr"],
        crosswalk=repo_file("src/terraflux/data/lccs_pft_crosswalk.csv"),
        groups=repo_file("src/terraflux/data/pft_groups.csv"),
        code=library("sources", "prepare"),
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


rule prepare_cerra:
    """CERRA GRIB2 monthly files -> weekly statistics on the native Lambert grid, or reprojected (cerra_weekly.zarr)."""
    input:
        files=expand(
            raw("cerra/cerra_{product}_{year}-{month}.grib"),
            product=CERRA_PRODUCTS,
            year=YEARS,
            month=MONTHS,
        ),
        code=library("sources", "prepare"),
    output:
        weekly=directory(resources_path("prepared/cerra_weekly.zarr")),
    log:
        logs("prepare_cerra.log"),
    benchmark:
        benchmarks("prepare_cerra.tsv")
    conda:
        ENV
    threads: job_threads("prepare")
    resources:
        **job_resources("prepare"),
    params:
        period=config["period"],
        cerra=config["prepare"]["cerra"],
    script:
        "../scripts/prepare_cerra.py"


rule prepare_vhp:
    """NOAA VHP weekly VHI -> VHI and extremes masks on the weekly grid of one extremes dataset."""
    input:
        files=[
            raw(f"vhp/VHP.G04.C07.{VHP_SATELLITE[year]}.P{year}{week:03d}.VH.nc")
            for year in YEARS
            for week in range(1, 53)
        ],
        weekly=resources_path("prepared/{dataset}_weekly.zarr"),
        code=library("sources", "prepare"),
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
    script:
        "../scripts/prepare_vhp.py"


rule prepare_insitu:
    """In-situ site files -> site table and daily/monthly GPP, RECO, NEE (gC m-2 d-1) per site (parquet)."""
    input:
        sites=raw(f"insitu/{INSITU_FORMAT}"),
        monthly=PREPARED["era5_land_monthly.zarr"],
        code=library("sources", "prepare"),
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
