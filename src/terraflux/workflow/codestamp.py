"""Code stamps: one small file standing for the library sources that a rule's script imports.

Snakemake does not track modules a script imports, so rules declare the library's source files as an
input (``code_stamp(...)`` in workflow/rules/common.smk). Declared one by one that is 10-40 files per job,
and for the thousands of jobs of a real-data run (one download per month or week) Snakemake's per-file
work (flags, existence, times, formatting) was a quarter of the DAG time. A stamp replaces them by one
file with the same rerun semantics:

- its modification time is the newest of the sources' (set with ``os.utime``, also backwards when an edit
  is reverted with its old time): a job reruns exactly when one of its sources is newer than its outputs;
- its name carries a hash of the file list, so adding or removing a source changes the job's input set
  (Snakemake's ``input`` rerun trigger), as declaring the files did;
- its content lists the sources (paths relative to the library root) with their SHA-256: Snakemake
  does not rerun a job whose newer input has the checksum it recorded (snakemake >= 8 for small files),
  so the content changes exactly when a source's content does, as with the sources declared one by one.

Stamps live under ``.snakemake/terraflux-code/`` in the working directory (Snakemake's own folder: not
part of the data layout) and are written atomically, so jobs parsing the workflow at once do not clash.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from pathlib import Path

FOLDER = Path(".snakemake") / "terraflux-code"


def stamp_name(key: str, sources: Sequence[Path], root: Path) -> Path:
    """Relative path of the stamp of ``sources`` (named by ``key`` and a hash of the file list)."""
    listing = "\n".join(str(Path(s).relative_to(root)) for s in sources)
    digest = hashlib.sha256(listing.encode()).hexdigest()[:10]
    safe = "".join(c if c.isalnum() or c in "+-_" else "." for c in key) or "core"
    return FOLDER / f"{safe}-{digest}.txt"


def update_stamp(key: str, sources: Sequence[Path], root: Path, workdir: Path | None = None) -> str:
    """Write (when missing or different) the stamp of ``sources`` and give it their newest modification
    time; returns its path relative to ``workdir`` (default: the current directory), as a rule input."""
    sources = [Path(s) for s in sources]
    if not sources:
        raise ValueError(f"no library sources for {key!r}")
    relative = stamp_name(key, sources, root)
    stamp = (workdir or Path.cwd()) / relative
    newest = max(s.stat().st_mtime_ns for s in sources)
    text = "".join(f"{hashlib.sha256(s.read_bytes()).hexdigest()}  {s.relative_to(root)}\n" for s in sources)
    try:
        current = stamp.stat().st_mtime_ns if stamp.read_text() == text else None
    except OSError:
        current = None
    if current is None:
        stamp.parent.mkdir(parents=True, exist_ok=True)
        tmp = stamp.with_name(f".{stamp.name}.tmp-{os.getpid()}")
        tmp.write_text(text)
        os.utime(tmp, ns=(newest, newest))
        os.replace(tmp, stamp)
    elif current != newest:
        os.utime(stamp, ns=(newest, newest))
    return str(relative)
