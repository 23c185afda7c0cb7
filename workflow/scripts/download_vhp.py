"""Download one weekly NOAA VHP file over HTTPS (resumable, verified).

Rule download_vhp, wildcards satellite, year, week (001..052).

Input:   code  library sources
Params:  base_url  config `sources.vhp.base_url`
         allowed   accepted formats (netcdf4, netcdf3)
Config:  sources.http (retry_max, sleep_max, timeout) is read here (retry settings do not change the data)
Output:  data     the week's file (terraflux.sources.vhp.PATH): VHI, VCI, TCI (dimensionless 0-100) on the
                  0.036 deg grid, as served; a missing file's error names the satellite the server has
         request  <data>.request.json (URL, delivery facts, sha256, provenance)
         sha256   <data>.sha256
"""

from terraflux.sources import vhp
from terraflux.sources.download.settings import ClientSettings
from terraflux.workflow.provenance import from_snakemake
from terraflux.workflow.script import setup_logging

log = setup_logging(snakemake)
w = snakemake.wildcards
described = vhp.download(
    snakemake.params.base_url,
    w.satellite,
    int(w.year),
    int(w.week),
    snakemake.output.data,
    ClientSettings.from_config(snakemake.config["sources"]["http"]),
    allowed=snakemake.params.allowed,
    description={"provenance": from_snakemake(snakemake)},
)
log.info("wrote %s (%d bytes)", snakemake.output.data, described["delivery"]["size"])
