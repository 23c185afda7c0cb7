"""Plain HTTPS downloads (NOAA VHP, ESA CCI PFT, the CarbonSense archive, the results of CDS requests) with
resume and verification.

One file per call, written to a temporary sibling and renamed when complete. Behaviour:

- a connection that breaks off mid-transfer is resumed with ``Range: bytes=<have>-`` (a server that
  answers 200 instead of 206 is read again from the start);
- 429, 408 and 5xx answers and connection errors are retried up to ``retry_max`` times, waiting as the
  server's ``Retry-After`` says (seconds or an HTTP date), else an exponential backoff capped at
  ``sleep_max``;
- the size is checked against ``Content-Length`` / ``Content-Range``; then the format (an HTML page in place
  of the data is named as such), then the checksum against the expected one when given (``sha256:<hex>``,
  ``md5:<hex>`` or a bare sha256 hex digest);
- on any failure nothing is left under the final name.
"""

from __future__ import annotations

import email.utils
import hashlib
import logging
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from terraflux.sources.download import errors
from terraflux.sources.download.delivery import save_download
from terraflux.sources.download.settings import ClientSettings

import requests

LOG = logging.getLogger(__name__)
RETRY_STATUS = {408, 429, 500, 502, 503, 504}
CHUNK = 1 << 16  # bytes per read: a broken connection loses at most this much of the transfer
LONGEST_RETRY_AFTER = 3600.0
NOT_FOUND_HINT = "The file does not exist there: check the base URL and the years in the config."


def retry_after_seconds(value: str | None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta seconds or HTTP date); None if absent/invalid."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def parse_checksum(expected: str) -> tuple[str, str]:
    """('sha256' | 'md5' | ..., hex digest) from 'algo:hex' or a bare sha256 hex digest."""
    algorithm, _, digest = expected.rpartition(":")
    algorithm = (algorithm or "sha256").lower()
    if algorithm not in hashlib.algorithms_available:
        raise ValueError(f"unknown checksum algorithm '{algorithm}' in '{expected}'")
    return algorithm, digest.lower()


def file_digest(path: Path, algorithm: str) -> str:
    digest = hashlib.new(algorithm)
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def _total_size(response: requests.Response, offset: int) -> int | None:
    content_range = response.headers.get("Content-Range", "")
    if "/" in content_range and not content_range.endswith("/*"):
        return int(content_range.rsplit("/", 1)[1])
    length = response.headers.get("Content-Length")
    return offset + int(length) if length is not None and "Content-Encoding" not in response.headers else None


def fetch(
    url: str,
    path: Path,
    settings: ClientSettings,
    session: requests.Session | None = None,
    hint_404: str = NOT_FOUND_HINT,
) -> dict[str, Any]:
    """Download ``url`` into ``path`` (resuming it across retries); returns size and response facts.

    A 404 raises :class:`~terraflux.sources.download.errors.HttpError` with ``hint_404``.
    """
    session = session or requests.Session()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)
    total: int | None = None
    resumed = 0
    last_problem = ""
    for attempt in range(settings.tries):
        have = path.stat().st_size if path.exists() else 0
        headers = {"Range": f"bytes={have}-"} if have else {}
        wait: float | None = None
        try:
            with session.get(url, headers=headers, stream=True, timeout=settings.timeout) as response:
                if response.status_code == 416 and total is not None and have == total:
                    break
                if response.status_code in RETRY_STATUS:
                    last_problem = f"{response.status_code} {response.reason}"
                    wait = retry_after_seconds(response.headers.get("Retry-After"))
                    raise _Retry()
                if response.status_code >= 400:
                    hint = hint_404 if response.status_code == 404 else ""
                    raise errors.HttpError(url, response.status_code, response.reason, hint)
                if have and response.status_code == 206:
                    start = int(response.headers.get("Content-Range", "bytes 0-").split()[1].split("-")[0])
                    if start != have:
                        path.unlink()
                        last_problem = "server resumed at the wrong byte"
                        raise _Retry()
                    mode = "ab"
                    resumed += 1
                    LOG.info("resuming %s from byte %d", url, have)
                else:
                    mode, have = "wb", 0
                total = _total_size(response, have) if response.status_code in (200, 206) else total
                with open(path, mode) as handle:
                    for block in response.iter_content(CHUNK):
                        handle.write(block)
        except _Retry:
            pass
        except (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError) as error:
            last_problem = f"{type(error).__name__}"
            LOG.warning("%s: %s after %d bytes", url, last_problem, path.stat().st_size if path.exists() else 0)
        else:
            size = path.stat().st_size
            if total is None or size == total:
                break
            last_problem = f"{size} of {total} bytes"
        if attempt == settings.retry_max:
            got = path.stat().st_size if path.exists() else 0
            if total is not None and 0 < got < total:
                raise errors.TruncatedDownload(url, got, total, settings.tries)
            raise errors.ServiceUnavailable(url, last_problem, settings.tries)
        pause = min(wait, LONGEST_RETRY_AFTER) if wait is not None else min(settings.sleep_max, 0.5 * 2**attempt)
        LOG.warning("%s: %s; retry %d of %d in %.2f s", url, last_problem, attempt + 1, settings.retry_max, pause)
        time.sleep(pause)
    return {"url": url, "size": path.stat().st_size, "expected_size": total, "resumed": resumed}


class _Retry(Exception):
    """Internal: this attempt should be retried."""


def verify_checksum(path: Path, checksum: str, what: str, key: str) -> dict[str, Any]:
    """Compare ``path`` with ``checksum`` ('algo:hex' or a bare sha256); facts for the sidecar, else
    :class:`~terraflux.sources.download.errors.ChecksumMismatch` naming config ``key``."""
    algorithm, expected = parse_checksum(checksum)
    got = file_digest(path, algorithm)
    if got != expected:
        raise errors.ChecksumMismatch(what, algorithm, got, expected, key)
    facts: dict[str, Any] = {"checksum_verified": f"{algorithm}:{expected}"}
    if algorithm == "sha256":
        facts["sha256"] = got
    return facts


def download(
    url: str,
    target: str | Path,
    settings: ClientSettings,
    *,
    allowed: Iterable[str],
    checksum: str | None = None,
    checksum_key: str = "",
    description: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Download ``url`` to ``target`` atomically, verify size, format and checksum, write the sidecars."""
    body = {"url": url, "request": {"url": url, "checksum": checksum}, **dict(description or {})}
    return save_download(
        target,
        lambda tmp: fetch(url, tmp, settings),
        allowed=allowed,
        description=body,
        what=url,
        verify=(lambda tmp: verify_checksum(tmp, checksum, url, checksum_key)) if checksum else None,
    )


def listing(folder_url: str, settings: ClientSettings) -> str:
    """The text of a server's directory listing (empty if it cannot be read)."""
    try:
        response = requests.get(folder_url.rstrip("/") + "/", timeout=settings.timeout)
        response.raise_for_status()
    except requests.RequestException:
        return ""
    return response.text
