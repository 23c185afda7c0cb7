"""Data sources: requests to the services, downloads, and facts about the raw files they deliver.

Subpackages and modules:

- ``terraflux.sources.download``: the producers of ``download_*`` rules (CDS client, HTTPS downloader,
  request builders, in-situ archives); they write the raw layout of ``docs/data-layout.md``.

Facts shared by every producer of the raw layer (download and synthetic) and by the readers live here.
"""

from __future__ import annotations

from typing import Mapping

from terraflux.errors import ConfigError


def vhp_satellite(year: int, satellites: Mapping[int | str, str]) -> str:
    """The satellite code in NOAA VHP file names (``VHP.G04.C07.{satellite}.P{year}{week}.VH.nc``).

    ``satellites`` maps the first year of each satellite's period to its code (config
    ``sources.vhp.satellites``, e.g. ``{2013: "npp", 2019: "j01"}``); the latest period that starts at or
    before ``year`` wins.
    """
    starts = sorted((int(first), code) for first, code in satellites.items())
    chosen = [code for first, code in starts if first <= int(year)]
    if not chosen:
        first = starts[0][0] if starts else "no year"
        raise ConfigError(
            f"no NOAA VHP satellite covers {year}: config key 'sources.vhp.satellites' starts in {first}; "
            "add the satellite code of that period (see the file names on the VHP server)"
        )
    return chosen[-1]


# Years with a land-cover map: C3S/ESA CCI LCCS maps 1992-2022 (CDS satellite-land-cover), ESA CCI PFT
# product v2.0.8 1992-2020.
LAND_COVER_YEARS = {"lccs": (1992, 2022), "pft": (1992, 2020)}


def land_cover_year(year: int, product: str) -> int:
    """The land-cover map used for ``year``: the year itself, or the nearest year with a map.

    Land cover changes slowly, so a period that starts before 1992 (or runs past the last map) uses the first
    (or last) map for the years outside the product's range; ``pft.zarr`` records the mapping.
    """
    first, last = LAND_COVER_YEARS[product]
    return min(max(int(year), first), last)
