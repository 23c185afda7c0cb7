"""Publishing a downloaded file: format check, then size and checksum checks, sidecars, atomic rename.

Beside every downloaded ``<file>`` the raw layer keeps ``<file>.request.json`` (what was asked, from which
service, what came back, provenance; never a credential) and ``<file>.sha256`` (``sha256sum`` format).
The file appears under its final name only when it is complete and verified; on any error neither the
file nor its sidecars are left behind. The format is checked before the size and the checksum: a web page
served in place of the data is reported as such, not as a broken transfer.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from terraflux.errors import DataError
from terraflux.sources.download.errors import UnexpectedFormat
from terraflux.sources.formats.sniff import sniff
from terraflux.workflow.atomic import atomic_output
from terraflux.workflow.provenance import sha256_file

LOG = logging.getLogger(__name__)


def sniff_format(path: str | Path) -> str:
    """'zip', 'netcdf4', 'netcdf3', 'grib' (the readers' detection), 'tar', 'html' (a web page, e.g. an error
    or login page), 'empty' or 'unknown'."""
    try:
        return sniff(path)
    except DataError:
        pass
    with open(path, "rb") as handle:
        head = handle.read(512)
    if not head:
        return "empty"
    if head[257:262] == b"ustar":
        return "tar"
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    return "html" if text.startswith((b"<!doctype html", b"<html", b"<head", b"<body")) else "unknown"


def check_format(path: Path, allowed: Iterable[str], what: str) -> str:
    """The format of ``path`` (:func:`sniff_format`) if it is one of ``allowed``, else
    :class:`~terraflux.sources.download.errors.UnexpectedFormat`."""
    allowed = tuple(allowed)
    found = sniff_format(path)
    if found not in allowed:
        raise UnexpectedFormat(what, found, allowed)
    return found


def request_sidecar(target: str | Path) -> Path:
    return Path(f"{target}.request.json")


def sha256_sidecar(target: str | Path) -> Path:
    return Path(f"{target}.sha256")


def write_sidecars(target: Path, digest: str, description: dict[str, Any]) -> str:
    """Write ``<target>.request.json`` and ``<target>.sha256`` (``digest``: sha256 hex of the data)."""
    description = dict(description, sha256=digest)
    with atomic_output(request_sidecar(target)) as tmp:
        tmp.write_text(json.dumps(description, indent=2, sort_keys=True, default=str) + "\n")
    with atomic_output(sha256_sidecar(target)) as tmp:
        tmp.write_text(f"{digest}  {target.name}\n")
    return digest


def remove_sidecars(target: str | Path) -> None:
    for path in (request_sidecar(target), sha256_sidecar(target)):
        path.unlink(missing_ok=True)


def save_download(
    target: str | Path,
    fetch: Callable[[Path], dict[str, Any]],
    *,
    allowed: Iterable[str],
    description: dict[str, Any],
    what: str,
    verify: Callable[[Path], dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """Run ``fetch(tmp)`` to write the data to a temporary sibling, verify it, then publish it.

    ``fetch`` returns facts about the delivery (asset type, size, ...; ``sha256`` if it already hashed the
    file), stored in the request sidecar under ``delivery`` with the detected ``format`` and the ``sha256``.
    The format must be one of ``allowed`` (see :func:`sniff_format`); ``verify(tmp)`` then checks what else
    is known (size, checksum) and returns facts to add. Returns the full sidecar description.
    """
    target = Path(target)
    remove_sidecars(target)
    try:
        with atomic_output(target) as tmp:
            delivery = dict(fetch(tmp) or {})
            delivery["format"] = check_format(tmp, allowed, what)
            delivery.update(verify(tmp) if verify else {})
            delivery["size"] = tmp.stat().st_size
            digest = delivery.pop("sha256", None) or sha256_file(tmp)  # fetch may have hashed it already
            described = dict(description, delivery=delivery)
            described["sha256"] = write_sidecars(target, digest, described)
            LOG.info("%s: %s, %d bytes, sha256 %s", target, delivery["format"], delivery["size"], digest)
    except BaseException:
        remove_sidecars(target)
        raise
    return described
