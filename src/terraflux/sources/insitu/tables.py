"""CSV tables of the in-situ sources, read as text and converted cell by cell: a cell that is neither a
number nor the file's missing-value code, a time that does not follow the file's format, or a row left
empty (only commas) stops with one message naming the file, the line (the header is line 1) and the column.

Nothing is guessed: the missing-value code is the one the product documents (``-9999`` in ONEFlux files,
an empty field in CarbonSense files); ``NA``, ``n/a``, ``NaN`` and the like are errors, not gaps.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from terraflux.errors import DataError

import numpy as np
import pandas as pd

#: strftime directives -> how they read in a message.
_SPELLED = {"%Y": "YYYY", "%m": "MM", "%d": "DD", "%H": "hh", "%M": "mm", "%S": "ss"}


def line(row: int) -> int:
    """The line of the file that holds data row ``row`` (0-based; the header is line 1)."""
    return row + 2


def read_text(path: str | Path, wanted: Callable[[str], bool], advice: str) -> pd.DataFrame:
    """The columns of a CSV file whose name ``wanted`` accepts, as stripped text (no conversion, no NA
    guessing; any line ending). ``advice``: what to do when the file is not CSV."""
    try:
        frame = pd.read_csv(path, usecols=wanted, dtype=str, keep_default_na=False, na_filter=False)
    except (pd.errors.EmptyDataError, pd.errors.ParserError, UnicodeDecodeError) as error:
        raise DataError(f"{path}: cannot be parsed as CSV ({error}); {advice}") from error
    return frame.apply(lambda column: column.str.strip())


def check_no_empty_rows(path: str | Path, frame: pd.DataFrame) -> None:
    """DataError naming the first row of ``frame`` whose cells are all empty (a row of commas)."""
    empty = (frame == "").all(axis=1).to_numpy()
    if len(frame.columns) and empty.any():
        row = int(np.argmax(empty))
        raise DataError(
            f"{path}: line {line(row)} holds no value in {', '.join(frame.columns)} (a row of only commas, as a "
            "spreadsheet program may leave at the end): delete that line"
        )


def numbers(path: str | Path, frame: pd.DataFrame, column: str, *, missing: float | None) -> np.ndarray:
    """``frame[column]`` as float64 [N], NaN where the cell holds the missing-value code (``missing``, or
    an empty field when ``missing`` is None); any other non-number (or inf) is a DataError naming the line."""
    text = frame[column]
    values = np.array(pd.to_numeric(text, errors="coerce"), dtype="float64")
    gap = (values == missing) if missing is not None else (text == "").to_numpy()
    bad = ~np.isfinite(values) & ~gap
    if bad.any():
        row = int(np.argmax(bad))
        code = f"{missing:g}" if missing is not None else "an empty field"
        raise DataError(
            f"{path}: line {line(row)}, column {column} holds {text.iloc[row]!r}, not a number (a missing value is "
            f"{code} in this file): correct that cell"
        )
    values[gap] = np.nan
    return values


def times(path: str | Path, frame: pd.DataFrame, column: str, time_format: str) -> pd.DatetimeIndex:
    """``frame[column]`` parsed with ``time_format`` (every cell of its exact length); a cell that does
    not follow it is a DataError naming the line and the expected form."""
    text = frame[column]
    width = len(pd.Timestamp(2000, 1, 1).strftime(time_format))
    parsed = pd.to_datetime(text, format=time_format, errors="coerce")
    bad = (parsed.isna() | (text.str.len() != width)).to_numpy()
    if bad.any():
        row = int(np.argmax(bad))
        spelled = time_format
        for directive, words in _SPELLED.items():
            spelled = spelled.replace(directive, words)
        raise DataError(
            f"{path}: line {line(row)}, column {column} holds {text.iloc[row]!r}, not a time of the form {spelled}: "
            "correct that cell"
        )
    return pd.DatetimeIndex(parsed)
