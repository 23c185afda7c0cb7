# Download rules (real services): download_<source>. See acquire.smk.
# Each writes one raw file of docs/data-layout.md atomically, with `<file>.request.json` (the request,
# never a credential) and `<file>.sha256` beside it. CDS rules take one `cds_requests` each: the
# profile's global `cds_requests=4` caps concurrent CDS requests. With compute.local_downloads the
# downloads run on the submitting (login) node. Credentials are read inside the jobs only.

from terraflux.sources.download import builders

LOCAL_DOWNLOADS = config["compute"]["local_downloads"]
# The download code is declared but `ancient`: a code edit must not re-download terabytes; what defines
# the data is the request, passed as params (a changed request reruns exactly its downloads).
DOWNLOAD_CODE = ancient(
    library("sources/__init__", "sources/download", "sources/readers/sniff")
)
SOURCES = config["sources"]


rule download_era5_land_hourly:
    """One month of hourly ERA5-Land (all configured variables) over the region, from the CDS."""
    input:
        code=DOWNLOAD_CODE,
    output:
        data=raw("era5_land/hourly/era5-land_{year}-{month}.nc"),
        request=raw("era5_land/hourly/era5-land_{year}-{month}.nc.request.json"),
        sha256=raw("era5_land/hourly/era5-land_{year}-{month}.nc.sha256"),
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
        spec=lambda w: builders.era5_land_hourly(
            SOURCES["era5_land"], config["region"], int(w.year), int(w.month)
        ),
        allowed=["netcdf4", "netcdf3", "zip", "grib"],
    script:
        "../scripts/download_cds.py"


rule download_era5_land_daily:
    """One month of the ERA5-Land daily-statistics product (a zip of one NetCDF per variable)."""
    input:
        code=DOWNLOAD_CODE,
    output:
        data=raw("era5_land/daily/era5-land-daily_{year}-{month}.zip"),
        request=raw("era5_land/daily/era5-land-daily_{year}-{month}.zip.request.json"),
        sha256=raw("era5_land/daily/era5-land-daily_{year}-{month}.zip.sha256"),
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
        spec=lambda w: builders.era5_land_daily(
            SOURCES["era5_land"], config["region"], int(w.year), int(w.month)
        ),
        allowed=["zip", "netcdf4", "netcdf3"],
    script:
        "../scripts/download_cds.py"


rule download_cerra:
    """One month of CERRA analysis fields, or of forecast-only fields (precipitation), GRIB2."""
    input:
        code=DOWNLOAD_CODE,
    output:
        data=raw("cerra/cerra_{product}_{year}-{month}.grib"),
        request=raw("cerra/cerra_{product}_{year}-{month}.grib.request.json"),
        sha256=raw("cerra/cerra_{product}_{year}-{month}.grib.sha256"),
    log:
        logs("download_cerra/{product}_{year}-{month}.log"),
    benchmark:
        benchmarks("download_cerra/{product}_{year}-{month}.tsv")
    wildcard_constraints:
        product="analysis|forecast",
    localrule: LOCAL_DOWNLOADS
    conda:
        ENV
    threads: job_threads("download")
    resources:
        **job_resources("download"),
        cds_requests=1,
    params:
        spec=lambda w: getattr(builders, f"cerra_{w.product}")(
            SOURCES["cerra"], int(w.year), int(w.month)
        ),
        allowed=["grib"],
    script:
        "../scripts/download_cds.py"


rule download_land_cover:
    """The yearly ESA CCI / C3S land-cover map (LCCS classes) over the region, a zip from the CDS."""
    input:
        code=DOWNLOAD_CODE,
    output:
        data=raw("land_cover/land-cover_LCCS_MAP_300m_{year}.zip"),
        request=raw("land_cover/land-cover_LCCS_MAP_300m_{year}.zip.request.json"),
        sha256=raw("land_cover/land-cover_LCCS_MAP_300m_{year}.zip.sha256"),
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
        spec=lambda w: builders.land_cover(config["region"], int(w.year)),
        allowed=["zip"],
    script:
        "../scripts/download_cds.py"


rule download_land_cover_pft:
    """The yearly ESA CCI PFT product (global NetCDF, 14 PFT percentages) over HTTPS."""
    input:
        code=DOWNLOAD_CODE,
    output:
        data=raw("land_cover/ESACCI-LC-L4-PFT-Map-300m-P1Y-{year}-v2.0.8.nc"),
        request=raw(
            "land_cover/ESACCI-LC-L4-PFT-Map-300m-P1Y-{year}-v2.0.8.nc.request.json"
        ),
        sha256=raw("land_cover/ESACCI-LC-L4-PFT-Map-300m-P1Y-{year}-v2.0.8.nc.sha256"),
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
        url=lambda w: builders.pft_url(
            SOURCES["land_cover"]["pft_base_url"], int(w.year)
        ),
        allowed=["netcdf4", "netcdf3"],
    script:
        "../scripts/download_https.py"


rule download_vhp:
    """One weekly NOAA VHP file (VHI, VCI, TCI) over HTTPS."""
    input:
        code=DOWNLOAD_CODE,
    output:
        data=raw("vhp/VHP.G04.C07.{satellite}.P{year}{week}.VH.nc"),
        request=raw("vhp/VHP.G04.C07.{satellite}.P{year}{week}.VH.nc.request.json"),
        sha256=raw("vhp/VHP.G04.C07.{satellite}.P{year}{week}.VH.nc.sha256"),
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
        data=directory(raw("insitu/{insitu_format}")),
        request=raw("insitu/{insitu_format}.request.json"),
        sha256=raw("insitu/{insitu_format}.sha256"),
    log:
        logs("download_insitu/{insitu_format}.log"),
    benchmark:
        benchmarks("download_insitu/{insitu_format}.tsv")
    wildcard_constraints:
        insitu_format="carbonsense|fluxnet2015",
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
