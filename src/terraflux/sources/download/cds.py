"""Climate Data Store downloads with the real ``cdsapi`` client.

The client is ``cdsapi.Client`` (0.7.x), which for a personal access token delegates to
``ecmwf.datastores.legacy_client.LegacyClient``: submit (``POST .../processes/{dataset}/execution``), then
poll the job monitor and read the results asset (``href``, ``file:size``, ``file:checksum``). This module
configures it, waits for the job itself and turns what goes wrong into
:mod:`terraflux.sources.download.errors` messages:

- credentials come from ``CDSAPI_URL``/``CDSAPI_KEY`` or ``$CDSAPI_RC`` (default ``~/.cdsapirc``), read
  here, inside the job; the key is never logged (every client message is redacted) or stored;
- ``retry_max``/``sleep_max``/``timeout`` come from config ``sources.cds``: each API call is tried
  ``retry_max + 1`` times, ``sleep_max`` apart (the client's own default would retry 500 times for two minutes
  each); a 429 answer is retried after the server's ``Retry-After`` (urllib3 retry on the client's session)
  before the client's own retries apply;
- a job is polled (every 1 s, growing by half up to ``sleep_max``) until its results are ready, for at most
  ``sources.cds.max_wait`` seconds from submission; every ``progress_every`` seconds a line in the log says
  its state and for how long it has waited;
- a request above ``sources.cds.max_fields`` fields is split into parts fetched one after the other and merged
  into one file (:mod:`terraflux.sources.download.parts`); the request sidecar lists the parts;
- the results are downloaded with :func:`terraflux.sources.download.https.fetch` (resumed with ``Range``),
  then checked in this order: format (a web page is named as such), size against ``file:size``, checksum
  against ``file:checksum`` (:func:`checksum_matches`); an expired results link (404) says so.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import shutil
import time
from collections.abc import Iterable, Mapping
from importlib.metadata import version
from pathlib import Path
from typing import Any

from terraflux.sources.download import errors
from terraflux.sources.download.delivery import check_format, save_download
from terraflux.sources.download.https import fetch as fetch_url
from terraflux.sources.download.parts import count_fields, merge_parts, split_request
from terraflux.sources.download.settings import ClientSettings

import cdsapi
import requests
from ecmwf.datastores.processing import ProcessingFailedError
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

LOG = logging.getLogger(__name__)


def rc_path() -> str:
    return os.environ.get("CDSAPI_RC", os.path.expanduser("~/.cdsapirc"))


def credentials() -> tuple[str, str]:
    """(url, key) exactly as the cdsapi client resolves them; clear errors when absent or old-style."""
    try:
        url, key, _verify = cdsapi.api.get_url_key_verify(None, None, None)
    except Exception as error:  # the client raises a bare Exception("Missing/incomplete configuration file")
        if "Missing/incomplete configuration" in str(error):
            raise errors.MissingCredentials(rc_path()) from None
        raise
    if not url or not key:
        raise errors.MissingCredentials(rc_path())
    if ":" in key:
        raise errors.OldStyleKey(rc_path())
    return url, key


class _Relay:
    """Routes the client's messages to our logger with the key redacted; remembers the job status and since
    when (``time.monotonic()``) the job has had it."""

    STATUS = re.compile(r"status has been updated to (\w+)")

    def __init__(self, key: str, logger: logging.Logger):
        self.key = key
        self.logger = logger
        self.status = "unknown"
        self.since = time.monotonic()

    def _emit(self, level: int, message: Any, *args: Any, **_kwargs: Any) -> None:
        text = str(message)
        if args:
            try:
                text = text % args
            except (TypeError, ValueError):
                text = " ".join([text, *map(str, args)])
        text = text.replace(self.key, "***")
        if match := self.STATUS.search(text):
            self.status = match.group(1)
            self.since = time.monotonic()
        self.logger.log(level, "%s", text)

    def info(self, *args: Any, **kwargs: Any) -> None:
        self._emit(logging.INFO, *args, **kwargs)

    def warning(self, *args: Any, **kwargs: Any) -> None:
        self._emit(logging.WARNING, *args, **kwargs)

    def error(self, *args: Any, **kwargs: Any) -> None:
        self._emit(logging.ERROR, *args, **kwargs)

    def debug(self, *args: Any, **kwargs: Any) -> None:
        self._emit(logging.DEBUG, *args, **kwargs)


def _session(settings: ClientSettings) -> requests.Session:
    """A session that waits out 429 answers as the server's Retry-After says (other errors: the client)."""
    retry = Retry(
        total=settings.retry_max,
        connect=0,
        read=0,
        other=0,
        status=settings.retry_max,
        status_forcelist=(429,),
        allowed_methods=None,  # a 429 means the request was not processed: a POST may be repeated
        respect_retry_after_header=True,
        raise_on_status=False,
        backoff_factor=0,
    )
    session = requests.Session()
    adapter = HTTPAdapter(max_retries=retry)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


def make_client(settings: ClientSettings, relay: _Relay | None = None) -> tuple[cdsapi.Client, _Relay]:
    """The real cdsapi client with our retry settings and logging; returns it and its message relay."""
    url, key = credentials()
    relay = relay or _Relay(key, LOG)
    client = cdsapi.Client(
        url=url,
        key=key,
        quiet=False,
        debug=False,
        progress=False,
        timeout=settings.timeout,
        retry_max=settings.tries,  # the client's retry_max counts the first call too
        sleep_max=settings.sleep_max,
        wait_until_complete=False,  # :func:`wait_for_results` waits, with a deadline and progress lines
        info_callback=relay.info,
        warning_callback=relay.warning,
        error_callback=relay.error,
        debug_callback=relay.debug,
        session=_session(settings),
    )
    return client, relay


def _server_message(response: requests.Response | None) -> tuple[int, dict[str, Any], str]:
    if response is None:
        return 0, {}, "no response"
    try:
        body = response.json()
    except ValueError:
        body = {}
    if not isinstance(body, dict):
        body = {}
    parts = [str(body[k]) for k in ("title", "detail", "traceback") if body.get(k)]
    text = " - ".join(parts) if parts else f"{response.status_code} {response.reason}"
    return response.status_code, body, text


def translate(
    error: BaseException, dataset: str, request: Mapping[str, Any], status: str, settings: ClientSettings
) -> BaseException | None:
    """The user-facing error for what the client raised (None: not a known failure, re-raise as is)."""
    service = f"the Climate Data Store ({dataset})"
    if isinstance(error, requests.HTTPError):
        code, body, text = _server_message(error.response)
        title = str(body.get("title", "")).lower()
        if code == 401:
            return errors.AuthenticationFailed(dataset, text)
        if code == 403 and "licence" in title + str(body.get("detail", "")).lower():
            return errors.LicenceNotAccepted(dataset, text)
        if code == 403 and "cost" in title + str(body.get("type", "")).lower():
            return errors.CostLimitExceeded(dataset, request, text, count_fields(request), settings.max_fields)
        if code == 403:
            return errors.AccessDenied(dataset, text)
        if code in (400, 422) and "job results failed" in str(body.get("type", "")).lower():
            return errors.JobFailed(dataset, status if status in ("failed", "rejected") else "failed", request, text)
        if code in (400, 422):
            return errors.InvalidRequest(dataset, code, request, text)
        if code == 404:
            return errors.DatasetNotFound(dataset, text)
        if code == 429 or code >= 500:
            return errors.ServiceUnavailable(service, f"{code}: {text}", settings.tries)
        return errors.DownloadError(f"the Climate Data Store answered {code} for '{dataset}': {text}")
    if isinstance(error, ProcessingFailedError):
        return errors.JobFailed(dataset, status, request, str(error))
    if isinstance(error, (requests.ConnectionError, requests.Timeout)):
        # a read timeout reaches us as a ConnectionError (urllib3 retries on the session wrap it)
        timed_out = isinstance(error, requests.Timeout) or "timed out" in str(error).lower()
        detail = f"no answer within {settings.timeout:g} s" if timed_out else type(error).__name__
        return errors.ServiceUnavailable(service, detail, settings.tries)
    return None


#: Part size of the CDS's object store uploads (s3fs's default block size, 50 MiB).
UPLOAD_PART = 50 * 2**20


def object_store_checksums(path: Path) -> list[str]:
    """What the CDS may announce as ``file:checksum`` for ``path``: the md5 of the file and, for a file of more
    than one 50 MiB part, the md5 of the concatenated md5s of its parts (hex).

    The CDS keeps results in an S3 object store and announces the object's ETag as a hexadecimal integer
    (cacholote's ``f"{fs.checksum(path):x}"`` with s3fs, which drops the ETag's ``-<parts>`` suffix; leading
    zeros are dropped too): the md5 of the file when it was stored in one piece, the md5 of its parts' md5s
    when it was uploaded in parts. Both are computed in one pass over the file.
    """
    whole, part, part_digests, in_part = hashlib.md5(), hashlib.md5(), [], 0
    with open(path, "rb") as handle:
        while block := handle.read(1 << 20):
            whole.update(block)
            part.update(block)
            in_part += len(block)
            if in_part == UPLOAD_PART:
                part_digests.append(part.digest())
                part, in_part = hashlib.md5(), 0
    if in_part:
        part_digests.append(part.digest())
    found = [whole.hexdigest()]
    if len(part_digests) > 1:
        found.append(hashlib.md5(b"".join(part_digests)).hexdigest())
    return found


def verify_asset(path: Path, asset: Mapping[str, Any], what: str, allowed: Iterable[str]) -> dict[str, Any]:
    """Check a downloaded results file: format, then size (``file:size``), then checksum (``file:checksum``).

    A file of at most one upload part is stored in one piece, so its checksum is its md5: any other value is a
    :class:`~terraflux.sources.download.errors.ChecksumMismatch`. A larger one may have been uploaded in parts
    of another size than s3fs's (a streamed upload cuts its parts as the writes come): when neither form
    matches, the checksum cannot be verified, and the log says so.
    """
    found = check_format(path, allowed, what)
    size = path.stat().st_size
    if asset.get("file:size") is not None and size != int(asset["file:size"]):
        raise errors.SizeMismatch(what, size, int(asset["file:size"]))
    checksum = str(asset.get("file:checksum") or "")
    if not re.fullmatch(r"[0-9a-fA-F]{1,32}", checksum):
        LOG.warning("%s: the service announced no md5 checksum (%r): only the size was checked", what, checksum)
        return {"format": found, "checksum_verified": None}
    computed = object_store_checksums(path)
    if int(checksum, 16) in {int(c, 16) for c in computed}:
        return {"format": found, "checksum_verified": f"md5:{checksum}"}
    if size <= UPLOAD_PART:
        raise errors.ChecksumMismatch(what, "md5", computed[0], checksum)
    LOG.warning(
        "%s: file:checksum %s is neither the md5 of the file nor that of its 50 MiB parts (%s): the service "
        "stored it in parts of another size, so only the size was checked",
        what,
        checksum,
        " or ".join(computed),
    )
    return {"format": found, "checksum_verified": None}


def wait_for_results(remote: Any, relay: _Relay, dataset: str, settings: ClientSettings, label: str) -> Any:
    """Poll a submitted job until its results are ready (``ecmwf.datastores`` ``Results``); a job still queued
    or running after ``settings.max_wait`` seconds raises :class:`~terraflux.sources.download.errors.QueueTimeout`."""
    start = time.monotonic()
    next_progress = start + settings.progress_every
    sleep = 1.0
    while not remote.results_ready:
        now = time.monotonic()
        if settings.max_wait is not None and now - start >= settings.max_wait:
            raise errors.QueueTimeout(dataset, remote.request_id, relay.status, now - start, settings.max_wait)
        if now >= next_progress:
            limit = f"{settings.max_wait:g} s" if settings.max_wait is not None else "none"
            LOG.info(
                "CDS request %s (%s%s): %s for %s, %s since submission (limit sources.cds.max_wait: %s)",
                remote.request_id,
                dataset,
                label,
                relay.status,
                errors.duration(now - relay.since),
                errors.duration(now - start),
                limit,
            )
            next_progress = now + settings.progress_every
        time.sleep(min(sleep, settings.sleep_max))
        sleep *= 1.5
    return remote.get_results()


def fetch_part(
    client: Any,
    relay: _Relay,
    dataset: str,
    request: Mapping[str, Any],
    path: Path,
    settings: ClientSettings,
    allowed: Iterable[str],
    label: str = "",
) -> dict[str, Any]:
    """Submit one request, wait for it, download its results to ``path`` and verify them; facts for the
    sidecar. Whatever fails is raised as a :mod:`~terraflux.sources.download.errors` message."""
    what = f"'{dataset}' results{label}"
    relay.status, relay.since = "submitted", time.monotonic()
    try:
        remote = client.retrieve(dataset, dict(request))
        results = wait_for_results(remote, relay, dataset, settings, label)
        asset = results.asset
        LOG.info(
            "job %s finished; downloading %s (%s bytes, %s)",
            remote.request_id,
            asset.get("href"),
            asset.get("file:size"),
            asset.get("type"),
        )
        try:
            transfer = fetch_url(results.location, path, settings, hint_404="")
        except errors.HttpError as error:
            if error.status == 404:
                raise errors.ResultsExpired(dataset, results.location) from error
            raise
        checked = verify_asset(path, asset, what, allowed)
    except Exception as error:
        friendly = translate(error, dataset, request, relay.status, settings)
        if friendly is None:
            raise
        raise friendly from error
    return {
        "job": remote.request_id,
        "type": asset.get("type"),
        "file:size": asset.get("file:size"),
        "file:checksum": asset.get("file:checksum"),
        "resumed": transfer["resumed"],
        **checked,
    }


def retrieve(
    dataset: str,
    request: Mapping[str, Any],
    target: str | Path,
    settings: ClientSettings,
    *,
    allowed: Iterable[str],
    provenance: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Submit ``request`` to ``dataset``, wait, download to ``target`` atomically, verify, write sidecars.

    ``allowed`` lists the file formats accepted for the target (e.g. zip, netcdf4); the delivered format
    is kept as the service sent it and recorded in ``<target>.request.json``. A request above
    ``settings.max_fields`` is fetched in parts (listed in the sidecar under ``parts``) merged into one file.
    Returns the sidecar's description.
    """
    allowed = tuple(allowed)
    parts = split_request(request, settings.max_fields, dataset)
    client, relay = make_client(settings)
    description = {
        "dataset": dataset,
        "request": dict(request),
        "service": client.url,
        "client": f"cdsapi {version('cdsapi')}, ecmwf-datastores-client {version('ecmwf-datastores-client')}",
        "provenance": dict(provenance or {}),
    }
    if len(parts) > 1:
        description["parts"] = parts
        LOG.info(
            "%s: %d fields, above sources.cds.max_fields = %d: fetched in %d parts",
            dataset,
            count_fields(request),
            settings.max_fields,
            len(parts),
        )

    def fetch(tmp: Path) -> dict[str, Any]:
        if len(parts) == 1:
            return fetch_part(client, relay, dataset, parts[0], tmp, settings, allowed)
        scratch = Path(f"{tmp}.parts")  # a temporary of the target: removed if the job is killed (atomic.py)
        shutil.rmtree(scratch, ignore_errors=True)
        (scratch / "merge").mkdir(parents=True)
        try:
            files, facts = [], []
            for index, part in enumerate(parts, 1):
                files.append(scratch / f"part-{index}")
                label = f", part {index} of {len(parts)}"
                facts.append(fetch_part(client, relay, dataset, part, files[-1], settings, allowed, label))
            return {"parts": facts, "merged_as": merge_parts(files, tmp, scratch / "merge")}
        finally:
            shutil.rmtree(scratch, ignore_errors=True)

    described = save_download(target, fetch, allowed=allowed, description=description, what=f"'{dataset}' results")
    if described["delivery"]["format"] == "zip" and request.get("download_format") == "unarchived":
        LOG.warning(
            "%s: the CDS delivered a zip for an unarchived %s request (mixed step types); kept as delivered, "
            "readers sniff the format",
            target,
            request.get("data_format"),
        )
    return described
