# Download rules (real services): download_<source>. See acquire.smk.
# Each writes one raw file of docs/data-layout.md atomically, with `<file>.request.json` (the request,
# never a credential) and `<file>.sha256` beside it. CDS rules take one `cds_requests` each (a request
# split into parts runs them one after the other): the profile's global `cds_requests=4` caps concurrent
# CDS requests. With compute.local_downloads the
# downloads run on the submitting (login) node. Credentials are read inside the jobs only.

from terraflux.sources import cerra, era5_land, insitu, land_cover, vhp

LOCAL_DOWNLOADS = config["compute"]["local_downloads"]
# The download code is declared but `ancient`: a code edit must not re-download terabytes; what defines
# the data is the request, passed as params (a changed request reruns exactly its downloads).
DOWNLOAD_CODE = ancient(code_stamp("data", "sources"))
SOURCES = config["sources"]


rule download_era5_land_hourly:
    """One month of hourly ERA5-Land (all configured variables) over the region, from the CDS."""
    input:
        code=DOWNLOAD_CODE,
    output:
        data=raw(era5_land.PATHS["hourly"]),
        request=request_of(era5_land.PATHS["hourly"]),
        sha256=sha256_of(era5_land.PATHS["hourly"]),
    log:
        logs("download_era5_land_hourly/{year}-{month}.log"),
    benchmark:
        benchmarks("download_era5_land_hourly/{year}-{month}.tsv")
    localrule: LOCAL_DOWNLOADS
    conda:
        ENV
    threads: job_threads("download")
    resources:
        **job_resources("download"),
        cds_requests=1,
    params:
        spec=lambda w: era5_land.hourly_request(
            SOURCES["era5_land"], config["region"], int(w.year), int(w.month)
        ),
        allowed=["netcdf4", "netcdf3", "zip", "grib"],
    script:
        "../scripts/download_era5_land_cerra_land_cover.py"


rule download_era5_land_daily:
    """One month of the ERA5-Land daily-statistics product (a zip of one NetCDF per variable)."""
    input:
        code=DOWNLOAD_CODE,
    output:
        data=raw(era5_land.PATHS["daily"]),
        request=request_of(era5_land.PATHS["daily"]),
        sha256=sha256_of(era5_land.PATHS["daily"]),
    log:
        logs("download_era5_land_daily/{year}-{month}.log"),
    benchmark:
        benchmarks("download_era5_land_daily/{year}-{month}.tsv")
    localrule: LOCAL_DOWNLOADS
    conda:
        ENV
    threads: job_threads("download")
    resources:
        **job_resources("download"),
        cds_requests=1,
    params:
        spec=lambda w: era5_land.daily_request(
            SOURCES["era5_land"], config["region"], int(w.year), int(w.month)
        ),
        allowed=["zip", "netcdf4", "netcdf3"],
    script:
        "../scripts/download_era5_land_cerra_land_cover.py"


rule download_cerra:
    """One month of CERRA analysis fields, or of forecast-only fields (precipitation), GRIB2."""
    input:
        code=DOWNLOAD_CODE,
    output:
        data=raw(cerra.PATH),
        request=request_of(cerra.PATH),
        sha256=sha256_of(cerra.PATH),
    log:
        logs("download_cerra/{product}_{year}-{month}.log"),
    benchmark:
        benchmarks("download_cerra/{product}_{year}-{month}.tsv")
    wildcard_constraints:
        product="|".join(cerra.PRODUCTS),
    localrule: LOCAL_DOWNLOADS
    conda:
        ENV
    threads: job_threads("download")
    resources:
        **job_resources("download"),
        cds_requests=1,
    params:
        spec=lambda w: cerra.request(
            SOURCES["cerra"], w.product, int(w.year), int(w.month)
        ),
        allowed=["grib"],
    script:
        "../scripts/download_era5_land_cerra_land_cover.py"


rule download_land_cover:
    """The yearly ESA CCI / C3S land-cover map (LCCS classes) over the region, a zip from the CDS."""
    input:
        code=DOWNLOAD_CODE,
    output:
        data=raw(land_cover.PATHS["lccs"]),
        request=request_of(land_cover.PATHS["lccs"]),
        sha256=sha256_of(land_cover.PATHS["lccs"]),
    log:
        logs("download_land_cover/{year}.log"),
    benchmark:
        benchmarks("download_land_cover/{year}.tsv")
    localrule: LOCAL_DOWNLOADS
    conda:
        ENV
    threads: job_threads("download")
    resources:
        **job_resources("download"),
        cds_requests=1,
    params:
        spec=lambda w: land_cover.request(config["region"], int(w.year)),
        allowed=["zip"],
    script:
        "../scripts/download_era5_land_cerra_land_cover.py"


rule download_land_cover_pft:
    """The yearly ESA CCI PFT product (global NetCDF, 14 PFT percentages) over HTTPS."""
    input:
        code=DOWNLOAD_CODE,
    output:
        data=raw(land_cover.PATHS["pft"]),
        request=request_of(land_cover.PATHS["pft"]),
        sha256=sha256_of(land_cover.PATHS["pft"]),
    log:
        logs("download_land_cover_pft/{year}.log"),
    benchmark:
        benchmarks("download_land_cover_pft/{year}.tsv")
    localrule: LOCAL_DOWNLOADS
    conda:
        ENV
    threads: job_threads("download")
    resources:
        **job_resources("download"),
    params:
        url=lambda w: land_cover.pft_url(
            SOURCES["land_cover"]["pft_base_url"], int(w.year)
        ),
        allowed=["netcdf4", "netcdf3"],
    script:
        "../scripts/download_land_cover_pft.py"


rule download_vhp:
    """One weekly NOAA VHP file (VHI, VCI, TCI) over HTTPS."""
    input:
        code=DOWNLOAD_CODE,
    output:
        data=raw(vhp.PATH),
        request=request_of(vhp.PATH),
        sha256=sha256_of(vhp.PATH),
    log:
        logs("download_vhp/{satellite}_{year}{week}.log"),
    benchmark:
        benchmarks("download_vhp/{satellite}_{year}{week}.tsv")
    wildcard_constraints:
        satellite="[A-Za-z0-9]+",
    localrule: LOCAL_DOWNLOADS
    conda:
        ENV
    threads: job_threads("download")
    resources:
        **job_resources("download"),
    params:
        base_url=SOURCES["vhp"]["base_url"],
        allowed=["netcdf4", "netcdf3"],
    script:
        "../scripts/download_vhp.py"


rule download_insitu:
    """In-situ fluxes: the CarbonSense archive (download, verify, unpack) or the user's site directory."""
    input:
        code=DOWNLOAD_CODE,
    output:
        data=directory(raw(insitu.PATH)),
        request=request_of(insitu.PATH),
        sha256=sha256_of(insitu.PATH),
    log:
        logs("download_insitu/{insitu_format}.log"),
    benchmark:
        benchmarks("download_insitu/{insitu_format}.tsv")
    wildcard_constraints:
        insitu_format="|".join(insitu.FORMATS),
    localrule: LOCAL_DOWNLOADS
    conda:
        ENV
    threads: job_threads("download")
    resources:
        **job_resources("download"),
    params:
        insitu=SOURCES["insitu"],
    script:
        "../scripts/download_insitu.py"
