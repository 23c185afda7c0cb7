"""Logging and error handling for the workflow's scripts.

Each script under ``workflow/scripts/`` starts with ``log = setup_logging(snakemake)``. Messages go to the
rule's log file (and, at WARNING and above, to stderr). An uncaught exception writes its traceback to the
log and one clear line to stderr: a :class:`~terraflux.errors.UserError` prints its message (which names the
file or key and what to do), anything else prints its type, message and the log's path.
"""

from __future__ import annotations

import logging
import sys
import traceback
from pathlib import Path
from types import TracebackType
from typing import Any

from terraflux.errors import UserError

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def setup_logging(
    snakemake: Any | None = None, *, log_path: str | Path | None = None, level: int = logging.INFO
) -> logging.Logger:
    """Send logging to the rule's log file and make uncaught exceptions land there.

    ``snakemake`` is the object Snakemake injects into scripts; ``log_path`` overrides its first log file.
    Returns the logger named after the rule.
    """
    rule = getattr(snakemake, "rule", None) or "terraflux"
    if log_path is None and snakemake is not None and len(snakemake.log) > 0:
        log_path = snakemake.log[0]

    root = logging.getLogger()
    root.setLevel(level)
    for handler in list(root.handlers):
        root.removeHandler(handler)
    if log_path is not None:
        Path(log_path).parent.mkdir(parents=True, exist_ok=True)
        file_handler = logging.FileHandler(log_path, mode="w")
        file_handler.setFormatter(logging.Formatter(FORMAT))
        root.addHandler(file_handler)
    stderr_handler = logging.StreamHandler(sys.stderr)
    stderr_handler.setLevel(logging.WARNING if log_path is not None else level)
    stderr_handler.setFormatter(logging.Formatter(FORMAT))
    root.addHandler(stderr_handler)
    logging.captureWarnings(True)

    logger = logging.getLogger(rule)

    def excepthook(kind: type[BaseException], error: BaseException, tb: TracebackType | None) -> None:
        text = "".join(traceback.format_exception(kind, error, tb))
        if log_path is not None:
            with open(log_path, "a") as handle:
                handle.write(text)
        # The stderr handler would print the traceback again: write the one line directly.
        for handler in root.handlers:
            handler.flush()
        if isinstance(error, UserError):
            line = f"terraflux [{rule}]: {error}"
        else:
            line = f"terraflux [{rule}]: unexpected {kind.__name__}: {error}"
        if log_path is not None:
            line += f" (full traceback in {log_path})"
        else:
            sys.stderr.write(text)
        sys.stderr.write(line + "\n")

    sys.excepthook = excepthook
    return logger
