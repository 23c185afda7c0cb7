"""Errors of the download layer: each says what went wrong, for which dataset or URL, and what to do.

All are :class:`~terraflux.errors.UserError` subclasses, so a workflow script ends with one clear line on
stderr and a non-zero exit (the traceback goes to the rule's log only).
"""

from __future__ import annotations

import json
from typing import Any

from terraflux.errors import DataError, UserError

CDS_SITE = "https://cds.climate.copernicus.eu"


def licence_page(dataset: str) -> str:
    """Where a user accepts the licence of a CDS dataset."""
    return f"{CDS_SITE}/datasets/{dataset}?tab=download#manage-licences"


def show_request(request: Any) -> str:
    return json.dumps(request, sort_keys=True)


class DownloadError(UserError):
    """A download did not produce a complete, verified file."""


class MissingCredentials(DownloadError):
    def __init__(self, rc_path: str):
        super().__init__(
            f"no Climate Data Store credentials: neither CDSAPI_URL and CDSAPI_KEY are set nor does {rc_path} "
            f"hold 'url' and 'key'. Create {rc_path} with the two lines\n"
            f"    url: {CDS_SITE}/api\n"
            "    key: <your personal access token>\n"
            f"(the token is on your profile page at {CDS_SITE}/profile after logging in), then run again."
        )


class OldStyleKey(DownloadError):
    def __init__(self, rc_path: str):
        super().__init__(
            "the Climate Data Store key has the old '<UID>:<KEY>' form, which the current CDS rejects: "
            f"replace it in {rc_path} (or CDSAPI_KEY) by the personal access token from {CDS_SITE}/profile"
        )


class AuthenticationFailed(DownloadError):
    def __init__(self, dataset: str, server: str):
        super().__init__(
            f"the Climate Data Store refused the credentials (401) while requesting '{dataset}': the token in "
            f"~/.cdsapirc (or CDSAPI_KEY) is wrong or expired. Copy your personal access token from "
            f"{CDS_SITE}/profile. Server said: {server}"
        )


class LicenceNotAccepted(DownloadError):
    def __init__(self, dataset: str, server: str):
        super().__init__(
            f"the licence of the CDS dataset '{dataset}' has not been accepted for this account (403). Log in, "
            f"accept it at {licence_page(dataset)} and run again. Server said: {server}"
        )


class CostLimitExceeded(DownloadError):
    def __init__(self, dataset: str, request: Any, server: str, fields: int, max_fields: int | None):
        budget = f"now {max_fields}" if max_fields else "now unset: requests are never split"
        super().__init__(
            f"the request to '{dataset}' exceeds the CDS cost limits (403). The service counts fields (variables "
            f"x hours x days; this request: {fields}), not the size of the region: lower 'sources.cds.max_fields' "
            f"({budget}) so that each month is fetched in smaller requests, or ask for fewer variables or hours, "
            f"and run again. Request: {show_request(request)}. Server said: {server}"
        )


class AccessDenied(DownloadError):
    def __init__(self, dataset: str, server: str):
        super().__init__(f"the Climate Data Store denied access to '{dataset}' (403). Server said: {server}")


class InvalidRequest(DownloadError):
    def __init__(self, dataset: str, status: int, request: Any, server: str):
        super().__init__(
            f"the Climate Data Store rejected the request to '{dataset}' as invalid ({status}): check the "
            f"variable names and values in config 'sources' against the dataset's download form at "
            f"{CDS_SITE}/datasets/{dataset}?tab=download. Request: {show_request(request)}. Server said: {server}"
        )


class DatasetNotFound(DownloadError):
    def __init__(self, dataset: str, server: str):
        super().__init__(
            f"the Climate Data Store answered 404 for '{dataset}' (unknown dataset, or the job or its results "
            f"expired): check the dataset name and the url in ~/.cdsapirc, then run again. Server said: {server}"
        )


class JobFailed(DownloadError):
    def __init__(self, dataset: str, status: str, request: Any, server: str):
        super().__init__(
            f"the CDS job for '{dataset}' ended as '{status}': the service could not produce the data. Check "
            f"the request (dates available, variable names), and the service status at {CDS_SITE}/live, then "
            f"run again. Request: {show_request(request)}. Server said: {server}"
        )


def duration(seconds: float) -> str:
    """'45 s', '12 min' or '3.5 h'."""
    if seconds < 120:
        return f"{seconds:.0f} s"
    return f"{seconds / 60:.0f} min" if seconds < 2 * 3600 else f"{seconds / 3600:.1f} h"


def after_attempts(attempts: int) -> str:
    """'after 3 attempts', or 'at the first attempt, with retry_max 0'."""
    return f"after {attempts} attempts" if attempts > 1 else "at the first attempt, with retry_max 0"


class ServiceUnavailable(DownloadError):
    def __init__(self, what: str, detail: str, attempts: int):
        super().__init__(
            f"{what} is unavailable ({detail}) {after_attempts(attempts)}: try again later, or raise "
            "'sources.cds.retry_max' / 'sources.http.retry_max'. On a cluster, downloads need a node with "
            "internet access (config 'compute.local_downloads: true' runs them on the login node)."
        )


class QueueTimeout(DownloadError):
    def __init__(self, dataset: str, request_id: str, state: str, waited: float, max_wait: float):
        super().__init__(
            f"the CDS request {request_id} for '{dataset}' was still '{state}' {duration(waited)} after its "
            f"submission, the limit of config 'sources.cds.max_wait' ({max_wait:g} s); nothing was kept. The request "
            f"stays in your queue ({CDS_SITE}/requests) and an identical request may later be answered from the CDS "
            f"cache: run again later, or raise 'sources.cds.max_wait'. Service status: {CDS_SITE}/live"
        )


class ResultsExpired(DownloadError):
    def __init__(self, dataset: str, url: str):
        super().__init__(
            f"the results of the CDS request for '{dataset}' are gone from the service (404 for {url}): results "
            "are kept for a limited time only. Nothing was kept; run again to submit the request anew."
        )


class HttpError(DownloadError):
    def __init__(self, url: str, status: int, reason: str, hint: str = ""):
        self.status = status
        super().__init__(f"GET {url} answered {status} {reason}. {hint}".strip())


class TruncatedDownload(DownloadError, DataError):
    def __init__(self, what: str, got: int, expected: int, attempts: int):
        super().__init__(
            f"download of {what} is incomplete: {got} of {expected} bytes {after_attempts(attempts)}; nothing "
            "was kept. Run again (the connection or the server broke off)."
        )


class SizeMismatch(DownloadError, DataError):
    def __init__(self, what: str, got: int, expected: int):
        super().__init__(
            f"download of {what} is incomplete: {got} of {expected} bytes. The transfer itself ended normally, "
            "but the service announced another size for its results; nothing was kept. Run again; if it "
            f"persists, the service's copy is damaged: report the request at {CDS_SITE}/requests to the support."
        )


class ChecksumMismatch(DownloadError, DataError):
    def __init__(self, what: str, algorithm: str, got: str, expected: str, key: str = ""):
        if key:
            advice = f"(config '{key}'): the file is corrupt or a different version; nothing was kept. Check the "
            advice += "expected checksum, then run again."
        else:
            advice = (
                "(announced by the service): the file was damaged on the way; nothing was kept. Run again; if it "
                "persists, the service's copy is damaged: report it to the service's support."
            )
        super().__init__(f"the {algorithm} checksum of {what} is {got}, expected {expected} {advice}")


class UnexpectedFormat(DownloadError, DataError):
    def __init__(self, what: str, found: str, allowed: tuple[str, ...]):
        cause = (
            "The service sent a web page (an error or login page) instead of the data"
            if found == "html"
            else "The service may have sent an error page"
        )
        super().__init__(
            f"{what} was delivered as {found}, expected one of {', '.join(allowed)}; nothing was kept. {cause}: "
            "check the URL or request, then run again."
        )
