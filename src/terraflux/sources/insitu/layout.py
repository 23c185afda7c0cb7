"""What each file of an in-situ folder is: ONEFlux site files, site lists, and files that cannot be used.

:func:`oneflux_name` parses the name of a file of :data:`~terraflux.sources.insitu.ONEFLUX_NAMES`; :func:`survey`
sorts a folder's files into ONEFlux files, site lists, AmeriFlux BASE files and archives not yet unzipped;
:func:`by_site` gathers the ONEFlux files by site and resolution; :func:`nothing_usable` says why a folder
holds no ONEFlux file and what to do.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from terraflux.errors import DataError
from terraflux.sources.insitu import (
    ARCHIVE_FILE,
    BASE_ADVICE,
    BASE_FILE,
    BIF_FILES,
    LAYOUTS,
    NETWORK_CODES,
    NETWORKS,
    ONEFLUX,
    SITES_FILE,
)


@dataclass(frozen=True)
class OnefluxName:
    """What a ONEFlux file name says: product (a key of ONEFLUX), site id, resolution and network."""

    product: str
    site: str
    resolution: str
    network: str


def oneflux_name(name: str) -> OnefluxName | None:
    """The facts in a ONEFlux file name, or None when ``name`` follows none of the products' conventions."""
    for product, pattern in ONEFLUX.items():
        match = pattern.match(name)
        if match:
            if product in NETWORKS:
                network = NETWORKS[product]
            else:
                network = NETWORK_CODES.get(match["network"], match["network"])
            return OnefluxName(product, match["site"], match["res"], network)
    return None


def parse_name(path: str | Path) -> OnefluxName:
    """:func:`oneflux_name` of a path; DataError naming the accepted names when it follows no convention."""
    parsed = oneflux_name(Path(path).name)
    if parsed is None:
        raise DataError(f"{path}: not the name of a ONEFlux site file; accepted: {LAYOUTS['fluxnet2015']}")
    return parsed


def is_site_list(name: str) -> bool:
    """True for ``sites.csv`` and for the BIF files of the services (site coordinates)."""
    return name == SITES_FILE or any(pattern.match(name) for pattern in BIF_FILES)


@dataclass
class Survey:
    """A folder's files by kind (each list sorted by path)."""

    oneflux: list[Path] = field(default_factory=list)
    site_lists: list[Path] = field(default_factory=list)
    base: list[Path] = field(default_factory=list)
    archives: list[Path] = field(default_factory=list)


def survey(files: Iterable[Path]) -> Survey:
    """Sort ``files`` (paths of regular files) by kind; other files are left out."""
    found = Survey()
    for path in sorted(files):
        name = path.name
        if oneflux_name(name):
            found.oneflux.append(path)
        elif is_site_list(name):
            found.site_lists.append(path)
        elif BASE_FILE.match(name):
            found.base.append(path)
        elif ARCHIVE_FILE.match(name):
            found.archives.append(path)
    return found


def by_site(files: Iterable[Path]) -> dict[str, dict[str, Path]]:
    """ONEFlux files -> site -> resolution -> file. Two files of the same site and resolution (two products
    or versions) is a DataError naming both: the records of one site must come from one file."""
    out: dict[str, dict[str, Path]] = {}
    for path in sorted(files):
        parsed = parse_name(path)
        other = out.setdefault(parsed.site, {}).get(parsed.resolution)
        if other is not None:
            raise DataError(
                f"{path.parent}: site {parsed.site} has two {parsed.resolution} files, {other.name} and {path.name}; "
                "keep one of them (one product and version per site)"
            )
        out[parsed.site][parsed.resolution] = path
    return out


def nothing_usable(found: Survey) -> str:
    """Why a folder with no ONEFlux file cannot be used and what to do (one sentence)."""
    if found.base:
        return f"it holds AmeriFlux BASE files ({found.base[0].name}): {BASE_ADVICE}"
    if found.archives:
        names = ", ".join(p.name for p in found.archives[:3])
        return f"it holds archives ({names}{', ...' if len(found.archives) > 3 else ''}): unzip them into the folder"
    return f"it holds no {LAYOUTS['fluxnet2015']}"
