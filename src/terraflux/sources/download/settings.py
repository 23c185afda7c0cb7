"""Retry and timeout settings shared by the CDS client and the HTTPS downloader."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class ClientSettings:
    """Settings of one client, from config ``sources.cds`` or ``sources.http``.

    retry_max: retries of a 5xx / 429 / 408 / connection error; sleep_max: longest wait between retries
    (and between CDS job polls), seconds; timeout: HTTP timeout of one call, seconds.
    """

    retry_max: int
    sleep_max: float
    timeout: float

    @classmethod
    def from_config(cls, section: Mapping[str, Any]) -> ClientSettings:
        return cls(
            retry_max=int(section["retry_max"]),
            sleep_max=float(section["sleep_max"]),
            timeout=float(section["timeout"]),
        )
