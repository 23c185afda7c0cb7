"""Download one year of the ESA CCI PFT product over HTTPS, resumable and verified (rule download_land_cover_pft).

Input:   code  library sources
Params:  url      the file's URL (terraflux.sources.land_cover.pft_url of config `sources.land_cover.pft_base_url`)
         allowed  accepted formats (netcdf4, netcdf3): an HTML error page is refused
Config:  sources.http (retry_max, sleep_max, timeout) is read here (retry settings do not change the data)
Output:  data     the NetCDF file as served (14 PFT variables, uint8 percent, 1/360 deg, global)
         request  <data>.request.json (URL, delivery facts, sha256, provenance)
         sha256   <data>.sha256
"""

from terraflux.sources.download.https import download
from terraflux.sources.download.settings import ClientSettings
from terraflux.workflow.provenance import from_snakemake
from terraflux.workflow.script import setup_logging

log = setup_logging(snakemake)
described = download(
    snakemake.params.url,
    snakemake.output.data,
    ClientSettings.from_config(snakemake.config["sources"]["http"]),
    allowed=snakemake.params.allowed,
    description={"provenance": from_snakemake(snakemake, params={"url": snakemake.params.url})},
)
log.info("wrote %s (%d bytes)", snakemake.output.data, described["delivery"]["size"])
