"""In-situ carbon fluxes: the CarbonSense v1 archive (Zenodo, HTTPS), or a directory the user already has.

Raw layout: :mod:`terraflux.sources.insitu` (``insitu/carbonsense/``, ``insitu/fluxnet2015/``).

The archive is downloaded (resumable, checksum-verified), only the three files per site period are
unpacked (``modis.pkl`` is never extracted: it is not needed and must not be unpickled from a download),
and the archive is removed. A user-supplied directory is validated and linked, not copied: CarbonSense
site folders at its top; ONEFlux site files and site lists anywhere below it (each service's archive may
unpack into its own folder), linked side by side. Before anything is linked, a ONEFlux folder must hold
at least one ONEFlux file, one file per site and resolution, and a site list with a valid row for every
site (:mod:`terraflux.sources.insitu.sites`), so that a mistake stops within seconds. Beside the folder:
``insitu/<format>.request.json`` and ``insitu/<format>.sha256`` (of the archive, or of the linked
directory's listing).
"""

from __future__ import annotations

import hashlib
import logging
import os
import tarfile
import zipfile
from collections.abc import Iterator, Mapping
from pathlib import Path, PurePosixPath
from typing import Any

from terraflux.errors import ConfigError, DataError
from terraflux.sources.download import errors
from terraflux.sources.download.delivery import remove_sidecars, sniff_format, write_sidecars
from terraflux.sources.download.https import fetch, file_digest, parse_checksum
from terraflux.sources.download.settings import ClientSettings
from terraflux.sources.insitu import BASE_ADVICE, CARBONSENSE_FILES, LAYOUTS, PERIOD, layout, sites
from terraflux.workflow.atomic import atomic_output, remove_stale_temporaries, temporary_sibling

LOG = logging.getLogger(__name__)
META = CARBONSENSE_FILES[0]


def _carbonsense_member(name: str) -> PurePosixPath | None:
    """``{SITE}/{PERIOD}/{file}`` for an archive member of a site period (any leading folders), else None."""
    parts = PurePosixPath(name).parts
    if len(parts) >= 3 and parts[-1] in CARBONSENSE_FILES and PERIOD.match(parts[-2]) and ".." not in parts:
        return PurePosixPath(*parts[-3:])
    return None


def _archive_members(archive: Path) -> Iterator[tuple[PurePosixPath, Any]]:
    """(relative destination, reader factory) for every wanted member of a tar or zip archive."""
    kind = sniff_format(archive)
    if kind == "tar" or tarfile.is_tarfile(archive):
        with tarfile.open(archive) as tar:
            for member in tar:
                dest = _carbonsense_member(member.name) if member.isfile() else None
                if dest is not None:
                    yield dest, lambda m=member, t=tar: t.extractfile(m)
    elif kind == "zip":
        with zipfile.ZipFile(archive) as zipped:
            for info in zipped.infolist():
                dest = None if info.is_dir() else _carbonsense_member(info.filename)
                if dest is not None:
                    yield dest, lambda i=info, z=zipped: z.open(i)
    else:
        raise DataError(f"{archive}: not a tar or zip archive (found {kind}); check config 'sources.insitu.url'")


def unpack_carbonsense(archive: Path, into: Path) -> int:
    """Extract the site-period files of a CarbonSense archive into ``into``; returns the number of sites."""
    sites = set()
    for dest, opener in _archive_members(archive):
        out = into / dest
        out.parent.mkdir(parents=True, exist_ok=True)
        with opener() as source, open(out, "wb") as sink:
            while block := source.read(1 << 20):
                sink.write(block)
        sites.add(dest.parts[0])
    if not sites:
        raise DataError(f"{archive}: no {LAYOUTS['carbonsense']} in the archive; check config 'sources.insitu.url'")
    return len(sites)


def download_carbonsense(
    url: str,
    target: str | Path,
    settings: ClientSettings,
    *,
    checksum: str | None,
    provenance: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Download the CarbonSense archive, verify it, unpack it atomically to ``target``, remove the archive."""
    target = Path(target)
    # the archive is a temporary of its own name, so that a killed job's partial archive is removed here
    archive_name = target.with_name(target.name + ".archive")
    remove_stale_temporaries(archive_name)
    archive = temporary_sibling(archive_name)
    remove_sidecars(target)
    try:
        facts = fetch(url, archive, settings)
        if checksum:
            algorithm, expected = parse_checksum(checksum)
            got = file_digest(archive, algorithm)
            if got != expected:
                raise errors.ChecksumMismatch(url, algorithm, got, expected, "sources.insitu.sha256")
        else:
            LOG.warning("no 'sources.insitu.sha256' configured: the archive's size is checked, not its checksum")
        with atomic_output(target) as tmp:
            tmp.mkdir()
            sites = unpack_carbonsense(archive, tmp)
            description = {
                "url": url,
                "request": {"url": url, "checksum": checksum},
                "delivery": dict(facts, format=sniff_format(archive), sites=sites),
                "provenance": dict(provenance or {}),
            }
            digest = write_sidecars(target, file_digest(archive, "sha256"), description)
        LOG.info("%s: %d CarbonSense sites from %s (sha256 %s)", target, sites, url, digest)
        return dict(description, sha256=digest)
    except BaseException:
        remove_sidecars(target)
        raise
    finally:
        archive.unlink(missing_ok=True)


def _carbonsense_entries(local: Path) -> list[Path]:
    return sorted(
        site
        for site in local.iterdir()
        if site.is_dir() and any((p / META).is_file() for p in site.iterdir() if PERIOD.match(p.name))
    )


def _oneflux_entries(local: Path) -> list[Path]:
    """The ONEFlux files and site lists anywhere below ``local``, checked (see module doc)."""
    found = layout.survey(p for p in local.rglob("*") if p.is_file())
    key = "config 'sources.insitu.local_dir'"
    if not found.oneflux:
        raise ConfigError(f"{key}: {local} cannot be used: {layout.nothing_usable(found)}")
    if found.base:
        LOG.warning("%s: AmeriFlux BASE files left out (%s): %s", local, found.base[0].name, BASE_ADVICE)
    by_site = layout.by_site(found.oneflux)
    sites.site_table(local, found.site_lists, sorted(by_site))
    entries = found.oneflux + found.site_lists
    names: dict[str, Path] = {}
    for entry in entries:
        if entry.name in names:
            raise ConfigError(
                f"{key}: {local} holds two files named {entry.name} ({names[entry.name]}, {entry}); keep one"
            )
        names[entry.name] = entry
    return entries


def local_entries(local_dir: str | Path, fmt: str) -> tuple[Path, list[Path]]:
    """The folder ``local_dir`` (resolved) and what :func:`link_local` links from it for ``fmt``: CarbonSense site
    folders, or the ONEFlux files and site lists below it, checked (see module doc)."""
    local = Path(local_dir).expanduser().resolve()
    if not local.is_dir():
        raise ConfigError(f"config 'sources.insitu.local_dir': {local} is not a directory")
    entries = _carbonsense_entries(local) if fmt == "carbonsense" else _oneflux_entries(local)
    if not entries:
        raise ConfigError(f"config 'sources.insitu.local_dir': {local} holds no {LAYOUTS[fmt]} (format '{fmt}')")
    return local, entries


def link_local(
    local_dir: str | Path, target: str | Path, fmt: str, *, provenance: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """Link the sites of a user-supplied directory into ``target`` (validated, not copied)."""
    local, entries = local_entries(local_dir, fmt)
    target = Path(target)
    listing = hashlib.sha256()
    for entry in entries:
        for file in sorted(p for p in ([entry] if entry.is_file() else entry.rglob("*")) if p.is_file()):
            listing.update(f"{file.relative_to(local).as_posix()}\0{file.stat().st_size}\n".encode())
    remove_sidecars(target)
    try:
        with atomic_output(target) as tmp:
            tmp.mkdir()
            for entry in entries:
                os.symlink(entry, tmp / entry.name)
            description = {
                "request": {"local_dir": str(local), "format": fmt},
                "delivery": {"entries": len(entries), "linked": True},
                "provenance": dict(provenance or {}),
                "sha256_of": "the listing (relative path and size of every file)",
            }
            digest = write_sidecars(target, listing.hexdigest(), description)
    except BaseException:
        remove_sidecars(target)
        raise
    LOG.info("%s: linked %d %s entries from %s", target, len(entries), fmt, local)
    return dict(description, sha256=digest)
