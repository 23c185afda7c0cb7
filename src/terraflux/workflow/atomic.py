"""Atomic outputs: write under a temporary name beside the target, rename when complete.

A job killed half-way (SIGKILL, node failure, time limit) leaves only hidden temporary paths, never a
partial file or zarr store under the final name that a rerun would take as complete. Temporaries are named
``.<name>.tmp-<host>-<pid>`` (anything a job derives from it, such as ``<temporary>.parts``, follows that
name). The next job for the same target removes what a killed one left (:func:`remove_stale_temporaries`):
Snakemake runs one job per output at a time, so another process's temporary of the same target is stale,
unless that process is alive on this host.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

LOG = logging.getLogger(__name__)


def _host() -> str:
    """This machine's short host name, in characters safe in a file name."""
    return re.sub(r"[^A-Za-z0-9_]", "_", socket.gethostname().split(".")[0]) or "host"


def temporary_sibling(final: str | Path, suffix: str = "") -> Path:
    """A hidden path in the same folder (same file system, so the rename is atomic), owned by this process:
    ``.<name>.tmp-<host>-<pid><suffix>``."""
    final = Path(final)
    return final.with_name(f".{final.name}.tmp-{_host()}-{os.getpid()}{suffix}")


def _owner(final: Path, path: Path) -> tuple[str | None, int] | None:
    """(host, pid) of a temporary of ``final`` (host None: written before host names were recorded), or None
    if ``path`` is not one."""
    match = re.fullmatch(rf"\.{re.escape(final.name)}\.tmp-(?:([A-Za-z0-9_]+)-)?(\d+)(?:\..*)?", path.name)
    return (match.group(1), int(match.group(2))) if match else None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def remove_stale_temporaries(final: str | Path) -> list[Path]:
    """Remove the temporaries of ``final`` that killed jobs left (other processes' that are not alive on this
    host, or this process's from before); returns them. Another target's temporaries are never touched."""
    final = Path(final)
    if not final.parent.is_dir():
        return []
    host, pid = _host(), os.getpid()
    removed = []
    for path in final.parent.glob(f".{glob_escape(final.name)}.tmp-*"):
        owner = _owner(final, path)
        if owner is None:
            continue
        owner_host, owner_pid = owner
        live_here = owner_host in (host, None) and owner_pid != pid and _alive(owner_pid)
        if live_here:
            continue
        _remove(path)
        removed.append(path)
        LOG.info("removed %s, left by a job that did not finish", path)
    return removed


def glob_escape(name: str) -> str:
    """``name`` with glob wildcards escaped."""
    return re.sub(r"([*?\[])", r"[\1]", name)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
        path.unlink()


@contextmanager
def atomic_output(final: str | Path) -> Iterator[Path]:
    """Yield a temporary path to write a file or a directory (zarr store) to; publish it on success.

    Stale temporaries of ``final`` are removed first. On an exception the temporary path is removed and the
    final path is left untouched.
    """
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(final)
    tmp = temporary_sibling(final)
    _remove(tmp)
    try:
        yield tmp
        if not tmp.exists():
            raise FileNotFoundError(f"nothing was written to {tmp} for {final}")
        if final.exists():
            _remove(final)
        os.replace(tmp, final)
    except BaseException:
        _remove(tmp)
        raise
