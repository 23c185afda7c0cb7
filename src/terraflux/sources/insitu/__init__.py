"""In-situ carbon fluxes: CarbonSense v1 site folders and FLUXNET2015 FULLSET site files.

CarbonSense v1 (Fortier et al. 2024, CarbonSense: a multimodal dataset and baseline for carbon flux
modelling, arXiv:2406.04940; Zenodo record 11403428, CC-BY-4.0): one archive ``carbonsense.tar`` holding
per site and period ``{SITE}/{YYYY-MM-DD_YYYY-MM-DD}/{meta.json, predictors.csv, targets.csv, modis.pkl}``;
``targets.csv`` has ``timestamp`` and the ONEFlux flux columns hourly in umol CO2 m-2 s-1; ``meta.json`` has SITE_ID,
LOCATION_LAT, LOCATION_LON, LOCATION_ELEV, IGBP, SOURCES (networks), TIME. ``modis.pkl`` is never extracted
nor read (no unpickling of downloaded files).

FLUXNET2015 FULLSET (FLUXNET2015 data variables page, https://fluxnet.org/data/fluxnet2015-dataset/):
``FLX_{SITE}_FLUXNET2015_FULLSET_{HH|HR|DD|WW|MM|YY}_{Y0}-{Y1}_{version}.csv``; ``-9999`` is missing;
``TIMESTAMP`` (DD-YY) or ``TIMESTAMP_START`` (HH, HR) as in :data:`TIME_FORMATS`; flux units in
:data:`UNITS` (DD, WW, MM: means of daily sums); ``NEE_VUT_REF_QC`` is the quality flag (0 measured, 1 good
gap-filling, 2-3 poor) in HH files and the fraction of measured or good-quality gap-filled records in the
aggregated files. The files carry no coordinates: a ``sites.csv`` beside them lists SITE_ID, LOCATION_LAT,
LOCATION_LON, LOCATION_ELEV, IGBP (the keys of CarbonSense's meta.json).

Modules: :mod:`.read` (both layouts as tidy frames), :mod:`.write` (both layouts from frames).
"""

from __future__ import annotations

import re

from terraflux.data import DATA_DIR

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

# ---- FLUXNET2015 --------------------------------------------------------------------------------------
FLUXNET_NAME = "FLX_{site}_FLUXNET2015_FULLSET_{resolution}_{first_year}-{last_year}_{version}.csv"
FLUXNET_FILE = re.compile(
    r"^FLX_(?P<site>[A-Za-z]{2}-[A-Za-z0-9]{3})_FLUXNET2015_(?P<set>[A-Z]+)_(?P<res>HH|HR|DD|WW|MM|YY)"
    r"_(?P<first>\d{4})-(?P<last>\d{4})_(?P<version>[\w-]+)\.csv$"
)
FLUXNET_GLOB = "FLX_*_FLUXNET2015_*.csv"
TIME_FORMATS = {"HH": "%Y%m%d%H%M", "HR": "%Y%m%d%H%M", "DD": "%Y%m%d", "WW": "%Y%m%d", "MM": "%Y%m", "YY": "%Y"}
UNITS = {
    "HH": "umol CO2 m-2 s-1",
    "HR": "umol CO2 m-2 s-1",
    "DD": "gC m-2 d-1",
    "WW": "gC m-2 d-1",
    "MM": "gC m-2 d-1",
    "YY": "gC m-2 y-1",
}
MISSING = -9999
#: The site list beside the FLUXNET files, and its columns.
SITES_FILE = "sites.csv"
SITES_COLUMNS = ("SITE_ID", "LOCATION_LAT", "LOCATION_LON", "LOCATION_ELEV", "IGBP")
#: Columns of the aggregated FULLSET files (DD, WW, MM, YY), in file order.
FULLSET_COLUMNS_FILE = DATA_DIR / "fluxnet2015_fullset_columns.txt"

#: How a user-supplied directory of each format must look (for error messages).
LAYOUTS = {
    "carbonsense": "CarbonSense v1 site folders {SITE}/{YYYY-MM-DD_YYYY-MM-DD}/meta.json",
    "fluxnet2015": "FLUXNET2015 / ONEFlux files "
    + FLUXNET_NAME.format(
        site="{SITE}", resolution="{HH,DD,MM,YY}", first_year="{Y0}", last_year="{Y1}", version="{v}"
    ),
}


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


def fluxnet_file_name(site: str, resolution: str, first_year: int, last_year: int, version: str) -> str:
    """The FULLSET file of a site at ``resolution`` (HH, HR, DD, WW, MM, YY) for the years it covers."""
    return FLUXNET_NAME.format(
        site=site, resolution=resolution, first_year=first_year, last_year=last_year, version=version
    )


def period_folder(first, last) -> str:
    """A CarbonSense period folder from the first and last record times (datetimes)."""
    return f"{first:{PERIOD_FORMAT}}_{last:{PERIOD_FORMAT}}"
