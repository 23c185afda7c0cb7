"""In-situ carbon fluxes into the raw layout: the CarbonSense archive, or the user's own site directory.

Rule download_insitu, wildcard insitu_format (carbonsense | fluxnet2015).

Input:   code  library sources
Params:  insitu  config `sources.insitu`: local_dir (a directory the user already has: validated and linked,
                 not copied), url and sha256 of the CarbonSense v1 archive (downloaded with resume, checksum
                 verified when given, unpacked, removed)
Output:  data     insitu/carbonsense/ (CarbonSense v1 site folders) or insitu/fluxnet2015/ (FLUXNET2015 FULLSET
                  files), layouts in terraflux.sources.insitu (fluxes in umol CO2 m-2 s-1 hourly / gC m-2 d-1
                  monthly, as the sources deliver them)
         request  insitu/<format>.request.json (URL or local directory, sites, provenance)
         sha256   insitu/<format>.sha256 (of the archive, or of the linked directory's listing)
"""

from terraflux.errors import ConfigError
from terraflux.sources.download.insitu import download_carbonsense, link_local
from terraflux.sources.download.settings import ClientSettings
from terraflux.workflow.provenance import from_snakemake
from terraflux.workflow.script import setup_logging

log = setup_logging(snakemake)
insitu = snakemake.params.insitu
fmt = snakemake.wildcards.insitu_format
provenance = from_snakemake(snakemake)
if fmt != insitu["format"]:
    raise ConfigError(f"raw insitu/{fmt} was asked for, but config 'sources.insitu.format' is '{insitu['format']}'")
if insitu["local_dir"]:
    described = link_local(insitu["local_dir"], snakemake.output.data, fmt, provenance=provenance)
elif fmt == "carbonsense":
    described = download_carbonsense(
        insitu["url"],
        snakemake.output.data,
        ClientSettings.from_config(snakemake.config["sources"]["http"]),
        checksum=insitu["sha256"],
        provenance=provenance,
    )
else:
    raise ConfigError(
        "FLUXNET2015 files need a registered download (https://fluxnet.org/data/fluxnet2015-dataset/): "
        "download them, then set config 'sources.insitu.local_dir' to their directory"
    )
log.info("wrote %s", snakemake.output.data)
