"""Retry, timeout and request-size settings shared by the CDS client and the HTTPS downloader."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

#: Seconds between two progress lines in the log while a CDS request waits in the queue or runs.
PROGRESS_EVERY = 300.0


@dataclass(frozen=True)
class ClientSettings:
    """Settings of one client, from config ``sources.cds`` or ``sources.http``.

    retry_max: retries of a 5xx / 429 / 408 / connection error / broken transfer (``retry_max + 1`` tries);
    sleep_max: longest wait between retries (and between CDS job polls), seconds; timeout: HTTP timeout of
    one call, seconds. CDS only: max_wait, the longest a request may wait in the queue and run, seconds
    (None: no limit); max_fields, the most fields one request may ask for (larger ones are split, None: never);
    progress_every, seconds between progress lines while a request waits.
    """

    retry_max: int
    sleep_max: float
    timeout: float
    max_wait: float | None = None
    max_fields: int | None = None
    progress_every: float = PROGRESS_EVERY

    @property
    def tries(self) -> int:
        """Calls made for one request before giving up (the first and ``retry_max`` retries)."""
        return self.retry_max + 1

    @classmethod
    def from_config(cls, section: Mapping[str, Any]) -> ClientSettings:
        optional = {key: section[key] for key in ("max_wait", "max_fields") if section.get(key) is not None}
        return cls(
            retry_max=int(section["retry_max"]),
            sleep_max=float(section["sleep_max"]),
            timeout=float(section["timeout"]),
            max_wait=float(optional["max_wait"]) if "max_wait" in optional else None,
            max_fields=int(optional["max_fields"]) if "max_fields" in optional else None,
        )
