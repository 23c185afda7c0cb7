"""Climate Data Store downloads with the real ``cdsapi`` client.

The client is ``cdsapi.Client`` (0.7.x), which for a personal access token delegates to
``ecmwf.datastores.legacy_client.LegacyClient``: submit (``POST .../processes/{dataset}/execution``),
poll the job monitor, read the results asset, download it with ``multiurl`` (resuming with ``Range``)
and check its size against ``file:size``. This module only configures it and turns what it raises
into :mod:`terraflux.sources.download.errors` messages:

- credentials come from ``CDSAPI_URL``/``CDSAPI_KEY`` or ``$CDSAPI_RC`` (default ``~/.cdsapirc``), read
  here, inside the job; the key is never logged (every client message is redacted) or stored;
- ``retry_max``/``sleep_max``/``timeout`` come from config ``sources.cds`` (the client's own default
  would retry 500 times for two minutes each);
- a 429 answer is retried after the server's ``Retry-After`` (urllib3 retry on the client's session)
  before the client's own retries apply.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterable, Mapping
from importlib.metadata import version
from pathlib import Path
from typing import Any

from terraflux.sources.download import errors
from terraflux.sources.download.delivery import save_download
from terraflux.sources.download.settings import ClientSettings

import cdsapi
import requests
from ecmwf.datastores.processing import DownloadError as ClientDownloadError
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
    """Routes the client's messages to our logger with the key redacted; remembers the job status."""

    STATUS = re.compile(r"status has been updated to (\w+)")

    def __init__(self, key: str, logger: logging.Logger):
        self.key = key
        self.logger = logger
        self.status = "unknown"

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
        retry_max=settings.retry_max,
        sleep_max=settings.sleep_max,
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


def translate(error: BaseException, dataset: str, request: Mapping[str, Any], status: str) -> BaseException | None:
    """The user-facing error for what the client raised (None: not a known failure, re-raise as is)."""
    if isinstance(error, requests.HTTPError):
        code, body, text = _server_message(error.response)
        title = str(body.get("title", "")).lower()
        if code == 401:
            return errors.AuthenticationFailed(dataset, text)
        if code == 403 and "licence" in title + str(body.get("detail", "")).lower():
            return errors.LicenceNotAccepted(dataset, text)
        if code == 403 and "cost" in title + str(body.get("type", "")).lower():
            return errors.CostLimitExceeded(dataset, request, text)
        if code == 403:
            return errors.AccessDenied(dataset, text)
        if code in (400, 422) and "job results failed" in str(body.get("type", "")).lower():
            return errors.JobFailed(dataset, status if status in ("failed", "rejected") else "failed", request, text)
        if code in (400, 422):
            return errors.InvalidRequest(dataset, code, request, text)
        if code == 404:
            return errors.DatasetNotFound(dataset, text)
        if code == 429 or code >= 500:
            return errors.ServiceUnavailable(f"the Climate Data Store ({dataset})", f"{code}: {text}")
        return errors.DownloadError(f"the Climate Data Store answered {code} for '{dataset}': {text}")
    if isinstance(error, ProcessingFailedError):
        return errors.JobFailed(dataset, status, request, str(error))
    # the client's size check ("downloaded N byte(s) out of M") and multiurl's ("N bytes instead of M")
    if isinstance(error, ClientDownloadError) or (
        isinstance(error, AssertionError) and "File size mismatch" in str(error)
    ):
        numbers = [int(n) for n in re.findall(r"\d+", str(error))[:2]] or [0, 0]
        return errors.TruncatedDownload(f"'{dataset}' results", numbers[0], numbers[-1])
    if isinstance(error, (requests.ConnectionError, requests.Timeout)):
        return errors.ServiceUnavailable(f"the Climate Data Store ({dataset})", type(error).__name__)
    return None


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
    is kept as the service sent it and recorded in ``<target>.request.json``. Returns that description.
    """
    client, relay = make_client(settings)
    description = {
        "dataset": dataset,
        "request": dict(request),
        "service": client.url,
        "client": f"cdsapi {version('cdsapi')}, ecmwf-datastores-client {version('ecmwf-datastores-client')}",
        "provenance": dict(provenance or {}),
    }

    def fetch(tmp: Path) -> dict[str, Any]:
        results = client.retrieve(dataset, dict(request))
        asset = results.asset
        LOG.info(
            "job finished; downloading %s (%s bytes, %s)", asset.get("href"), asset.get("file:size"), asset.get("type")
        )
        results.download(str(tmp))
        return {
            "type": asset.get("type"),
            "file:size": asset.get("file:size"),
            "file:checksum": asset.get("file:checksum"),
        }

    try:
        described = save_download(target, fetch, allowed=allowed, description=description, what=f"'{dataset}' results")
    except Exception as error:
        friendly = translate(error, dataset, request, relay.status)
        if friendly is None:
            raise
        raise friendly from error
    if described["delivery"]["format"] == "zip" and request.get("download_format") == "unarchived":
        LOG.warning(
            "%s: the CDS delivered a zip for an unarchived %s request (mixed step types); kept as delivered, "
            "readers sniff the format",
            target,
            request.get("data_format"),
        )
    return described
