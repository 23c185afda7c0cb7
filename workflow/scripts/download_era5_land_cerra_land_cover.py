"""Download one raw file from the Climate Data Store with the real cdsapi client.

The script of the rules download_era5_land_hourly, download_era5_land_daily, download_cerra and
download_land_cover (one CDS request at a time each; concurrency capped by the global resource `cds_requests`).

Input:   code  library sources (reruns when the download code changes)
Params:  spec     {"dataset": CDS dataset id, "request": request dict}, built by the source's module
                  (terraflux.sources.era5_land / cerra / land_cover) from config `sources.*` and `region`
         allowed  file formats accepted for this target (zip, netcdf4, netcdf3, grib); the file is kept
                  exactly as the CDS delivers it, readers sniff the format
Config:  sources.cds (retry_max, sleep_max, timeout, max_wait, max_fields) is read here, not passed as params:
         client settings do not change the data, so changing them reruns nothing. A request above max_fields
         is fetched in parts (by variable, then by days) merged into the same file
         (terraflux.sources.download.parts)
Output:  data     the file as delivered (ERA5-Land NetCDF/zip/GRIB, CERRA GRIB2, land-cover zip), unchanged, or
                  the parts merged into the file one request would give
         request  <data>.request.json: dataset, request, the parts' requests when split, service URL, delivery
                  (type, size, format, checksum verified; per part when split), sha256, provenance
         sha256   <data>.sha256 (sha256sum format)
Credentials: CDSAPI_URL / CDSAPI_KEY or ~/.cdsapirc, read inside this job, never logged or written.
"""

from terraflux.sources.download.cds import retrieve
from terraflux.sources.download.settings import ClientSettings
from terraflux.workflow.provenance import from_snakemake
from terraflux.workflow.script import setup_logging

log = setup_logging(snakemake)
spec = snakemake.params.spec
described = retrieve(
    spec["dataset"],
    spec["request"],
    snakemake.output.data,
    ClientSettings.from_config(snakemake.config["sources"]["cds"]),
    allowed=snakemake.params.allowed,
    provenance=from_snakemake(snakemake, params={"spec": spec}),
)
log.info(
    "wrote %s (%s, %d bytes)", snakemake.output.data, described["delivery"]["format"], described["delivery"]["size"]
)
