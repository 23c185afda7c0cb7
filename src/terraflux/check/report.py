"""What the check says about one file or folder: the facts it found, or the error the workflow would stop with.

A :class:`Report` is filled inside :func:`checking`: a :class:`~terraflux.errors.UserError` raised by the readers
and checks becomes its error (the job's one-line message), the warnings they log (``terraflux.*`` loggers) become
its notes, and any other exception is reported as unexpected instead of ending the check of the other files.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from terraflux.errors import UserError


@dataclass
class Report:
    """The result for ``path``: ``facts`` (label, text) when it passes, else ``error``; ``notes``: warnings."""

    path: str
    facts: list[tuple[str, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    def add(self, label: str, text: str) -> None:
        self.facts.append((label, text))

    def lines(self) -> list[str]:
        """``ok: <path>`` and one indented line per fact, or ``error: <message>``; then the notes."""
        if self.error is not None:
            head = [f"error: {self.error}" if self.path in self.error else f"error: {self.path}: {self.error}"]
        else:
            head = [f"ok: {self.path}"] + [f"    {label}: {text}" for label, text in self.facts]
        return head + [f"    note: {note}" for note in self.notes]


class _Notes(logging.Handler):
    """Keeps the messages of the warnings logged while a file is checked."""

    def __init__(self, notes: list[str]):
        super().__init__(logging.WARNING)
        self.notes = notes

    def emit(self, record: logging.LogRecord) -> None:
        self.notes.append(record.getMessage())


@contextmanager
def checking(report: Report) -> Iterator[Report]:
    """Run a file's checks: its first :class:`UserError` becomes ``report.error``, warnings of the library become
    ``report.notes``, an unexpected exception an error that says so."""
    logger = logging.getLogger("terraflux")
    handler, propagate = _Notes(report.notes), logger.propagate
    logger.addHandler(handler)
    logger.propagate = False
    try:
        yield report
    except UserError as error:
        report.error = str(error)
    except Exception as error:  # a file the readers do not expect: report it, check the other files
        report.error = (
            f"{report.path}: unexpected {type(error).__name__} ({error}); the workflow would stop here with a "
            "traceback. The file is not in a layout terraflux knows (docs/inputs.md)"
        )
    finally:
        logger.removeHandler(handler)
        logger.propagate = propagate


@dataclass
class Result:
    """The reports of one source's files and folders, and notes about them as a whole (e.g. the period)."""

    reports: list[Report] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
