"""Logging and error handling for the workflow's scripts.

Each script under ``workflow/scripts/`` starts with ``log = setup_logging(snakemake)``. Messages go to the
rule's log file (and, at WARNING and above, to stderr). An uncaught exception writes its traceback to the
log and one clear line to stderr: a :class:`~terraflux.errors.UserError` prints its message (which names the
file or key and what to do), anything else prints its type, message and the log's path.

The log keeps every attempt since the job last succeeded, each under a header line (attempt number, time,
host, process): Snakemake deletes a job's log before running it again, so each attempt also writes to
``.<log name>.attempts`` beside it, which the next attempt copies back first and a successful one removes.
At the start of a job (not in the further processes of a multi-process job) the temporaries that killed jobs
left beside the job's outputs are removed (:func:`terraflux.workflow.atomic.remove_stale_temporaries`).
"""

from __future__ import annotations

import atexit
import logging
import os
import socket
import sys
import time
import traceback
from pathlib import Path
from types import TracebackType
from typing import Any

from terraflux.errors import UserError
from terraflux.workflow.atomic import remove_stale_temporaries

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
HEADER = "===== terraflux [{rule}] attempt {attempt}: started {time} on {host} (pid {pid}) ====="
#: Set in the environment by the first :func:`setup_logging` of an attempt: the log it writes. A process the
#: attempt starts (a multi-process training job re-executing its script) continues that log.
ATTEMPT_LOG = "TERRAFLUX_ATTEMPT_LOG"


def attempts_path(log_path: str | Path) -> Path:
    """The file that keeps a log's attempts until the job succeeds."""
    log_path = Path(log_path)
    return log_path.with_name(f".{log_path.name}.attempts")


def _start_attempt(log_path: Path, rule: str) -> bool:
    """Write the log's earlier attempts and this attempt's header; False if this process continues an attempt
    that an earlier process of the same job started."""
    if os.environ.get(ATTEMPT_LOG) == str(log_path.resolve()):
        return False
    os.environ[ATTEMPT_LOG] = str(log_path.resolve())
    history = attempts_path(log_path)
    earlier = history.read_text() if history.exists() else ""
    attempt = earlier.count("===== terraflux [") + 1
    header = HEADER.format(
        rule=rule,
        attempt=attempt,
        time=time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        host=socket.gethostname(),
        pid=os.getpid(),
    )
    log_path.write_text(f"{earlier}{header}\n")
    with open(history, "a") as handle:
        handle.write(f"{header}\n")
    return True


def _outputs(snakemake: Any) -> list[str]:
    return [str(path) for path in getattr(snakemake, "output", [])]


def setup_logging(
    snakemake: Any | None = None, *, log_path: str | Path | None = None, level: int = logging.INFO
) -> logging.Logger:
    """Send logging to the rule's log file and make uncaught exceptions land there.

    ``snakemake`` is the object Snakemake injects into scripts; ``log_path`` overrides its first log file.
    Returns the logger named after the rule.
    """
    rule = getattr(snakemake, "rule", None) or "terraflux"
    rule_log = snakemake.log[0] if snakemake is not None and len(snakemake.log) > 0 else None
    if log_path is None:
        log_path = rule_log

    root = logging.getLogger()
    root.setLevel(level)
    for handler in list(root.handlers):
        root.removeHandler(handler)
    files: list[Path] = []
    first = True
    if log_path is not None:
        log_path = Path(log_path)
        log_path.parent.mkdir(parents=True, exist_ok=True)
        first = _start_attempt(log_path, rule)
        files = [log_path, attempts_path(log_path)]
        for path in files:
            file_handler = logging.FileHandler(path, mode="a")
            file_handler.setFormatter(logging.Formatter(FORMAT))
            root.addHandler(file_handler)
    stderr_handler = logging.StreamHandler(sys.stderr)
    stderr_handler.setLevel(logging.WARNING if log_path is not None else level)
    stderr_handler.setFormatter(logging.Formatter(FORMAT))
    root.addHandler(stderr_handler)
    logging.captureWarnings(True)

    logger = logging.getLogger(rule)
    if first and (rule_log is None or log_path == Path(rule_log)):  # the job's first process
        for output in _outputs(snakemake):
            remove_stale_temporaries(output)
    failed = []

    def excepthook(kind: type[BaseException], error: BaseException, tb: TracebackType | None) -> None:
        failed.append(kind)
        text = "".join(traceback.format_exception(kind, error, tb))
        for handler in root.handlers:
            handler.flush()
        for path in files:
            with open(path, "a") as handle:
                handle.write(text)
        # The stderr handler would print the traceback again: write the one line directly.
        if isinstance(error, UserError):
            line = f"terraflux [{rule}]: {error}"
        else:
            line = f"terraflux [{rule}]: unexpected {kind.__name__}: {error}"
        if log_path is not None:
            line += f" (full traceback in {log_path})"
        else:
            sys.stderr.write(text)
        sys.stderr.write(line + "\n")

    def forget_attempts() -> None:
        """A process that ends without an uncaught exception: the job succeeded, its log holds every attempt."""
        if files and not failed:
            logging.shutdown()
            files[1].unlink(missing_ok=True)

    sys.excepthook = excepthook
    atexit.register(forget_attempts)
    return logger
