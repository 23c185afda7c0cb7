"""Provenance records written into every output (zarr attributes, metrics JSON, parquet metadata).

A record says what produced a file: rule and wildcards, the hash of the config subtree the rule used, the
package version and git commit, the pinned environment, and sha256 checksums of the inputs. It never holds
credentials: only config subtrees passed as ``params`` (which never carry secrets) are hashed.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import os
import platform
import subprocess
from collections.abc import Iterable, Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any

import terraflux
from terraflux.config import REPO_ROOT, config_hash

CHUNK = 1 << 20


def sha256_file(path: str | Path) -> str:
    """sha256 of one file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def sha256_path(path: str | Path) -> str:
    """sha256 of a file, or of a directory (zarr store) as the hash of its sorted (name, file hash) list.

    A store's own ``.provenance`` sidecar, if present, is skipped so that recording provenance does not
    change the checksum of the data.
    """
    path = Path(path)
    if path.is_file():
        return sha256_file(path)
    digest = hashlib.sha256()
    for file in sorted(p for p in path.rglob("*") if p.is_file()):
        rel = file.relative_to(path).as_posix()
        digest.update(rel.encode() + b"\0" + sha256_file(file).encode() + b"\n")
    return digest.hexdigest()


def portable_name(path: str | Path) -> str:
    """The path relative to the checkout (files of the workflow) or to the working directory (data files),
    so that provenance does not depend on where a clone lives."""
    path = Path(path).absolute()
    for base in (REPO_ROOT, Path.cwd()):
        if path.is_relative_to(base):
            return path.relative_to(base).as_posix()
    return path.as_posix()


@lru_cache(maxsize=1)
def git_commit() -> str:
    """The commit of the checkout the workflow runs from, with ``-dirty`` if files differ; else 'unknown'."""
    try:
        commit = subprocess.run(
            ["git", "-C", str(REPO_ROOT), "rev-parse", "HEAD"], capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(REPO_ROOT), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return commit + ("-dirty" if dirty else "")


@lru_cache(maxsize=1)
def environment_hash() -> str:
    """sha256 of the pinned lock file the environment was built from."""
    lock = REPO_ROOT / "envs" / "requirements.lock"
    return sha256_file(lock) if lock.exists() else "unknown"


def record(
    *,
    rule: str,
    params: Any = None,
    inputs: Iterable[str | Path] = (),
    wildcards: Mapping[str, str] | None = None,
    extra: Mapping[str, Any] | None = None,
    timestamp: bool = False,
) -> dict:
    """A provenance record as a JSON-serialisable dict.

    ``params`` is the config subtree the rule used (hashed, and stored as given: it must hold no secret).
    Without ``timestamp`` the record is deterministic, so two clean runs give bit-identical outputs.
    """
    rec: dict[str, Any] = {
        "rule": rule,
        "wildcards": dict(wildcards or {}),
        "config_hash": config_hash(params),
        "params": params,
        "package": "terraflux",
        "package_version": terraflux.__version__,
        "git_commit": git_commit(),
        "environment_lock_sha256": environment_hash(),
        "python": platform.python_version(),
        "inputs": {portable_name(p): sha256_path(p) for p in inputs if os.path.exists(p)},
    }
    if extra:
        rec.update(extra)
    if timestamp:
        rec["created"] = _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")
    return rec


def from_snakemake(snakemake: Any, *, params: Any = None, extra: Mapping[str, Any] | None = None) -> dict:
    """Provenance record for the running Snakemake job (rule, wildcards, params, all inputs)."""
    inputs = [str(p) for p in snakemake.input]
    return record(
        rule=snakemake.rule,
        params=params if params is not None else dict(snakemake.params.items()),
        inputs=inputs,
        wildcards=dict(snakemake.wildcards.items()),
        extra=extra,
    )
