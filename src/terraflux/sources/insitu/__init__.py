"""In-situ carbon fluxes: CarbonSense v1 site folders, and ONEFlux site files (FLUXNET2015 FULLSET and the
products with the same columns) with a site list.

CarbonSense v1 (Fortier et al. 2024, CarbonSense: a multimodal dataset and baseline for carbon flux
modelling, arXiv:2406.04940; Zenodo record 11403428, CC-BY-4.0): one archive ``carbonsense.tar`` holding
per site and period ``{SITE}/{YYYY-MM-DD_YYYY-MM-DD}/{meta.json, predictors.csv, targets.csv, modis.pkl}``;
``targets.csv`` has ``timestamp`` and the ONEFlux flux columns hourly in umol CO2 m-2 s-1 (an empty field is
a gap); ``meta.json`` has SITE_ID, LOCATION_LAT, LOCATION_LON, LOCATION_ELEV, IGBP, SOURCES (networks), TIME.
``modis.pkl`` is never extracted nor read (no unpickling of downloaded files).

ONEFlux site files (config format ``fluxnet2015``; Pastorello et al. 2020, The FLUXNET2015 dataset and the
ONEFlux processing pipeline for eddy covariance data, Sci. Data 7, 225, doi:10.1038/s41597-020-0534-3), one
file per site and resolution (HH half-hourly, HR hourly, DD, WW, MM, YY), named as in :data:`ONEFLUX_NAMES`:

- FLUXNET2015 FULLSET (https://fluxnet.org/data/fluxnet2015-dataset/):
  ``FLX_{SITE}_FLUXNET2015_FULLSET_{RES}_{Y0}-{Y1}_{version}.csv``;
- AmeriFlux FLUXNET (the README of the AmeriFlux FLUXNET data product, https://ameriflux.lbl.gov/):
  ``AMF_{SITE}_FLUXNET_FULLSET_{RES}_{Y0}-{Y1}_{site version}-{code version}.csv``;
- ICOS ETC L2 archive ``ICOSETC_{SITE}_ARCHIVE[_INTERIM]_L2.zip`` (ICOS Carbon Portal, Ecosystem final
  quality (L2) product in ETC-Archive format): ``ICOSETC_{SITE}_FLUXNET_{RES}[_INTERIM]_L2.csv``;
- FLUXNET (ONEFlux v1.3 and later, README of github.com/fluxnet/ONEFlux
  ``oneflux/metadata/fluxnet_data_docs/README.txt``): ``{NETWORK}_{SITE}_FLUXNET_FLUXMET_{RES}_{Y0}-{Y1}_{v}_{r}.csv``.

All share the ONEFlux columns: ``-9999`` is missing; ``TIMESTAMP`` (DD, MM, YY) or ``TIMESTAMP_START`` (HH,
HR, WW) as in :data:`TIME_FORMATS`; flux units in :data:`UNITS` (DD, WW, MM: means of daily sums);
``NEE_VUT_REF_QC`` is the quality flag (0 measured, 1 good gap-filling, 2-3 poor) in HH/HR files and the
fraction of measured or good-quality gap-filled records in the aggregated files. AmeriFlux BASE files
(``AMF_{SITE}_BASE_{HH|HR}_{version}.csv``) hold no ONEFlux-partitioned GPP and RECO and are refused.

The files carry no coordinates. The site list beside them is ``sites.csv`` (:data:`SITE_LIST_COLUMNS`, one
row per site; the names are the BADM variables of the FLUXNET site list) or the sites' BADM in BIF
(BADM Interchange Format, long CSV with :data:`BIF_COLUMNS`; Pastorello et al. 2020, table SM8) as the
services deliver it: ``ICOSETC_{SITE}_SITEINFO[_INTERIM]_L2.csv``, ``{NETWORK}_{SITE}_FLUXNET_BIF_*.csv``,
``FLX_AA-Flx_BIF_*.csv``.

Modules: :mod:`.layout` (what each file of a folder is), :mod:`.tables` (CSV cells checked one by one),
:mod:`.read` (site files as tidy frames), :mod:`.sites` (site lists), :mod:`.write` (every layout from
frames).
"""

from __future__ import annotations

import re
from string import Formatter

from terraflux.data import DATA_DIR
from terraflux.errors import ConfigError

FORMATS = ("carbonsense", "fluxnet2015")
#: Raw folder of the configured format (relative to the raw folder).
PATH = "insitu/{insitu_format}"

# ---- CarbonSense v1 ---------------------------------------------------------------------------------
CARBONSENSE_FILES = ("meta.json", "predictors.csv", "targets.csv")
#: A site's period folder: first and last day of its records.
PERIOD = re.compile(r"^\d{4}-\d{2}-\d{2}_\d{4}-\d{2}-\d{2}$")
PERIOD_FORMAT = "%Y-%m-%d"
META_KEYS = ("SITE_ID", "LOCATION_LAT", "LOCATION_LON")
#: Flux columns of ``targets.csv``, in file order.
TARGET_COLUMNS = ("NEE_VUT_REF", "GPP_DT_VUT_REF", "GPP_NT_VUT_REF", "RECO_DT_VUT_REF", "RECO_NT_VUT_REF")
#: ``timestamp`` of ``targets.csv`` / ``predictors.csv`` (start of the hour) and meta.json's TIME.
TIMESTAMP_FORMAT = "%Y-%m-%d %H:%M:%S"
CARBONSENSE_UNITS = "umol CO2 m-2 s-1"
#: gC m-2 d-1 per umol CO2 m-2 s-1: 12.011 g C per mol (the conventional atomic weight of carbon, IUPAC
#: Commission on Isotopic Abundances and Atomic Weights, https://www.ciaaw.org/carbon.htm) x 86400 s / 1e6.
UMOL_CO2_TO_GC_PER_DAY = 12.011 * 86400 / 1e6

# ---- ONEFlux site files ---------------------------------------------------------------------------------
_SITE = r"(?P<site>[A-Za-z]{2}-[A-Za-z0-9]{3})"
#: What each field of a file-name template matches.
_FIELDS = {
    "site": _SITE,
    "res": r"(?P<res>HH|HR|DD|WW|MM|YY)",
    "first": r"(?P<first>\d{4})",
    "last": r"(?P<last>\d{4})",
    "version": r"(?P<version>[\w.-]+)",
    "network": r"(?P<network>[A-Z]+)",
    "interim": r"(?:_INTERIM)?",
}


def _pattern(template: str) -> re.Pattern:
    """The regular expression of a file-name template (its fields as in :data:`_FIELDS`)."""
    parts = [re.escape(text) + (_FIELDS[field] if field else "") for text, field, _, _ in Formatter().parse(template)]
    return re.compile("^" + "".join(parts) + "$")


#: Product -> file-name template of the ONEFlux files read (``{network}``: the network code at the start of
#: a FLUXNET (ONEFlux v1.3) file; ``{interim}``: ``_INTERIM`` in an ICOS interim release).
ONEFLUX_NAMES = {
    "FLUXNET2015": "FLX_{site}_FLUXNET2015_FULLSET_{res}_{first}-{last}_{version}.csv",
    "AmeriFlux FLUXNET": "AMF_{site}_FLUXNET_FULLSET_{res}_{first}-{last}_{version}.csv",
    "ICOS ETC L2": "ICOSETC_{site}_FLUXNET_{res}{interim}_L2.csv",
    "FLUXNET": "{network}_{site}_FLUXNET_FLUXMET_{res}_{first}-{last}_{version}.csv",
}
#: Product -> file-name pattern (from the template).
ONEFLUX = {product: _pattern(template) for product, template in ONEFLUX_NAMES.items()}
#: Network written to the site table per product; a FLUXNET (v1.3) file's network code is looked up in
#: :data:`NETWORK_CODES` (an unknown code is written as it is).
NETWORKS = {"FLUXNET2015": "FLUXNET2015", "AmeriFlux FLUXNET": "AmeriFlux", "ICOS ETC L2": "ICOS"}
NETWORK_CODES = {"AMF": "AmeriFlux", "ICOSETC": "ICOS"}
#: AmeriFlux BASE files (https://ameriflux.lbl.gov/data/data-processing-pipelines/base-publish/): two
#: comment lines (``# Site:``, ``# Version:``), then ``TIMESTAMP_START,TIMESTAMP_END,...``; no ONEFlux
#: partitioning, so they are refused with :data:`BASE_ADVICE`.
BASE_NAME = "AMF_{site}_BASE_{res}_{version}.csv"
BASE_FILE = _pattern(BASE_NAME)
BASE_HEADER = ("# Site: {site}", "# Version: {version}")
BASE_ADVICE = (
    "AmeriFlux BASE files hold the measured fluxes only, no partitioned GPP and RECO "
    "(GPP_NT_VUT_REF, RECO_NT_VUT_REF): download the AmeriFlux FLUXNET product of the site instead "
    "(AMF_{SITE}_FLUXNET_FULLSET_{Y0}-{Y1}_{v}.zip, https://ameriflux.lbl.gov/data/flux-data-products/) and unzip it "
    "into the folder"
)
#: Archives of the products above, to be unzipped before use.
ARCHIVE_FILE = re.compile(rf"^[A-Z]+_{_SITE}_.*\.zip$")
TIME_FORMATS = {"HH": "%Y%m%d%H%M", "HR": "%Y%m%d%H%M", "DD": "%Y%m%d", "WW": "%Y%m%d", "MM": "%Y%m", "YY": "%Y"}
#: Resolutions whose time column is ``TIMESTAMP_START`` (with ``TIMESTAMP_END``); the others have ``TIMESTAMP``.
PAIRED_STAMPS = ("HH", "HR", "WW")
UNITS = {
    "HH": "umol CO2 m-2 s-1",
    "HR": "umol CO2 m-2 s-1",
    "DD": "gC m-2 d-1",
    "WW": "gC m-2 d-1",
    "MM": "gC m-2 d-1",
    "YY": "gC m-2 y-1",
}
MISSING = -9999
#: Columns of the aggregated FULLSET files (DD, WW, MM, YY), in file order.
FULLSET_COLUMNS_FILE = DATA_DIR / "fluxnet2015_fullset_columns.txt"

# ---- site lists ------------------------------------------------------------------------------------------
SITES_FILE = "sites.csv"
#: Columns of ``sites.csv``: the first three are required, ``LOCATION_LON`` (CarbonSense's name) is read as
#: ``LOCATION_LONG``; an empty or -9999 elevation is unknown.
SITE_LIST_COLUMNS = ("SITE_ID", "LOCATION_LAT", "LOCATION_LONG", "LOCATION_ELEV", "IGBP")
SITE_LIST_ALIASES = {"LOCATION_LON": "LOCATION_LONG"}
#: Columns a BIF file must have (it may have GROUP_ID, VARIABLE_GROUP too); its VARIABLE values read.
BIF_COLUMNS = ("SITE_ID", "VARIABLE", "DATAVALUE")
BIF_VARIABLES = ("LOCATION_LAT", "LOCATION_LONG", "LOCATION_ELEV", "IGBP")
BIF_FILES = (
    _pattern("ICOSETC_{site}_SITEINFO{interim}_L2.csv"),
    re.compile(r"^[A-Z]+_[A-Za-z]{2}-[A-Za-z0-9]{3}_(?:FLUXNET_)?BIF_[\w.-]*\.csv$"),
)
#: Valid coordinates of a site (degrees; longitudes east, -180..360 as the region keys).
LATITUDE_RANGE = (-90.0, 90.0)
LONGITUDE_RANGE = (-180.0, 360.0)

#: How a user-supplied directory of each format must look (for error messages).
LAYOUTS = {
    "carbonsense": "CarbonSense v1 site folders {SITE}/{YYYY-MM-DD_YYYY-MM-DD}/meta.json",
    "fluxnet2015": "ONEFlux site files ("
    + ", ".join(
        template.format(
            site="{SITE}", res="{RES}", first="{Y0}", last="{Y1}", version="{v}", network="{NET}", interim=""
        )
        for template in ONEFLUX_NAMES.values()
    )
    + f") with a site list ({SITES_FILE} or the sites' BIF files)",
}
#: What ``sites.csv`` must hold, for error messages.
SITE_LIST_ADVICE = (
    f"add {SITES_FILE} there with the header {','.join(SITE_LIST_COLUMNS)} and one row per site, e.g. "
    "'FR-Pue,43.7413,3.5957,270,EBF' (degrees north, degrees east, m, IGBP class: the values of the FLUXNET "
    "site list, https://fluxnet.org/sites/site-list-and-pages/, or of the site's BADM), or put the sites' BIF "
    "files there (ICOSETC_{SITE}_SITEINFO_L2.csv of the ICOS archive, *_FLUXNET_BIF_*.csv, FLX_AA-Flx_BIF_*.csv "
    "saved as CSV)"
)


def raw_path(insitu_format: str) -> str:
    """The raw folder of ``insitu_format`` (relative to the raw folder)."""
    return PATH.format(insitu_format=insitu_format)


def flux_columns(partitioning: str) -> dict[str, str]:
    """Output name -> ONEFlux column (night-time ``NT`` or day-time ``DT`` partitioning for GPP and RECO)."""
    return {"GPP": f"GPP_{partitioning}_VUT_REF", "RECO": f"RECO_{partitioning}_VUT_REF", "NEE": "NEE_VUT_REF"}


def fullset_columns() -> list[str]:
    """The columns of the aggregated FULLSET files, in file order (``TIMESTAMP`` first)."""
    lines = FULLSET_COLUMNS_FILE.read_text().splitlines()
    return [line for line in lines if line and not line.startswith("#")]


def fluxnet_file_name(
    site: str,
    resolution: str,
    first_year: int,
    last_year: int,
    version: str,
    product: str = "FLUXNET2015",
    network: str = "",
) -> str:
    """The ONEFlux file of a site at ``resolution`` (HH, HR, DD, WW, MM, YY) in ``product``'s naming
    (:data:`ONEFLUX_NAMES`; ``network``: the network code of a FLUXNET (v1.3) file, e.g. ``AMF``, ``ICOSETC``)."""
    return ONEFLUX_NAMES[product].format(
        site=site, res=resolution, first=first_year, last=last_year, version=version, network=network, interim=""
    )


def period_folder(first, last) -> str:
    """A CarbonSense period folder from the first and last record times (datetimes)."""
    return f"{first:{PERIOD_FORMAT}}_{last:{PERIOD_FORMAT}}"


def check_origin(config: dict) -> None:
    """``sources.insitu.local_dir`` acts only when raw files are downloaded (``run.origin: download``); with
    the synthetic world it would be ignored silently, so that is an error."""
    local_dir = config["sources"]["insitu"].get("local_dir")
    origin = config["run"]["origin"]
    if local_dir and origin != "download":
        raise ConfigError(
            f"config 'sources.insitu.local_dir' is set ({local_dir}) but 'run.origin' is '{origin}', which writes "
            "synthetic towers and would ignore your site data: set 'run.origin: download' to use them, or remove "
            "'sources.insitu.local_dir' for a synthetic run"
        )
