"""Preparation in parts: init, independent parts, finalise (one Slurm job each).

A prepared store that covers many years is built by jobs that need not run on one machine:

- **init** creates the store(s) empty (shape, chunks, coordinates, attributes; :func:`~.stores.create`) in a
  staging folder;
- each **part** (a run of whole years, :func:`year_parts`) reduces its months with the same library
  functions as a one-job build, writes the chunks that lie wholly inside its time region straight into the
  staging store, and publishes a part folder atomically (:func:`save_part`): its record (a JSON ``record``:
  per-month statistics, notes) and the slices of the chunks it shares with a neighbouring part (``edges``).
  A part killed half-way leaves chunks that its rerun overwrites with the same values, and no part folder;
- **finalise** checks that the parts tile the period (:func:`check_tiling`), writes the shared chunks
  (:func:`~.stores.write_edges`), computes the training statistics and climatologies, consolidates the
  metadata and moves each store to its final path (:func:`publish`).

Parts hold whole years because weeks (:mod:`.weeks`) never cross a year's end, so no week's statistics are
split between two jobs. A one-job build is the same three steps in one process with one part.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from terraflux.errors import DataError
from terraflux.outputs import jsonable
from terraflux.workflow.atomic import atomic_output, remove_stale_temporaries, temporary_sibling

import numpy as np

RECORD = "record.json"


def year_parts(start_year: int, end_year: int, part_years: int) -> list[tuple[int, int]]:
    """The parts of the period: runs of ``part_years`` whole years ``(first, last)``, the last one shorter."""
    if part_years < 1:
        raise ValueError(f"part_years must be >= 1, got {part_years}")
    return [(y, min(y + part_years - 1, end_year)) for y in range(start_year, end_year + 1, part_years)]


def label(first: int, last: int) -> str:
    """The name of the part of years ``first``..``last`` (its folder and Snakemake wildcard)."""
    return f"{first}" if first == last else f"{first}-{last}"


def workers_within(budget_bytes: float, worker_bytes: float, threads: int) -> int:
    """Worker processes of a part that fit ``budget_bytes`` when each needs ``worker_bytes`` at its peak: at
    most ``threads``, at least 1. A part's memory does not grow with its number of years (months stream
    through, :func:`~.parallel.ordered_map`), so the budget bounds the workers, not the part's length."""
    fit = int(budget_bytes // worker_bytes) if worker_bytes > 0 else threads
    return max(1, min(int(threads), fit))


@dataclass
class Part:
    """What one part hands to finalise: its years, record (JSON-able) and the arrays of its edges.

    ``edges``: store name -> ``[(variable, start, array)]`` (:attr:`~.stores.TimeChunkWriter.edges`);
    ``arrays``: other arrays by name (e.g. the part's land mask).
    """

    first: int
    last: int
    record: dict
    edges: dict[str, list[tuple[str, int, np.ndarray]]] = field(default_factory=dict)
    arrays: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def label(self) -> str:
        return label(self.first, self.last)


def save_part(part: Part, path: str | Path) -> None:
    """Publish ``part`` as the folder ``path`` atomically (written under a temporary name, then renamed): a
    folder under the final name is a complete part."""
    with atomic_output(path) as tmp:
        tmp.mkdir(parents=True)
        for store, pieces in part.edges.items():
            for name, start, array in pieces:
                folder = tmp / "edges" / store / name
                folder.mkdir(parents=True, exist_ok=True)
                np.save(folder / f"{start:09d}.npy", array, allow_pickle=False)
        for name, array in part.arrays.items():
            np.save(tmp / f"{name}.npy", array, allow_pickle=False)
        record = {"first": part.first, "last": part.last, **part.record}
        (tmp / RECORD).write_text(json.dumps(jsonable(record), indent=1, allow_nan=True))


def load_part(path: str | Path) -> Part:
    """The :class:`Part` saved in the folder ``path`` (:func:`save_part`); a folder without its record is a
    DataError naming it."""
    path = Path(path)
    if not (path / RECORD).is_file():
        raise DataError(f"{path}: not a complete part (no {RECORD}); delete it and rerun the part")
    record = json.loads((path / RECORD).read_text())
    first, last = int(record.pop("first")), int(record.pop("last"))
    edges: dict[str, list] = {}
    for store in sorted(p.name for p in (path / "edges").glob("*")) if (path / "edges").is_dir() else []:
        for folder in sorted((path / "edges" / store).iterdir()):
            for piece in sorted(folder.glob("*.npy")):
                edges.setdefault(store, []).append((folder.name, int(piece.stem), np.load(piece)))
    arrays = {p.stem: np.load(p) for p in sorted(path.glob("*.npy"))}
    return Part(first, last, record, edges, arrays)


def check_tiling(parts: Iterable[Part], start_year: int, end_year: int) -> list[Part]:
    """The parts sorted by their first year; stops unless they cover ``start_year``..``end_year`` once each."""
    parts = sorted(parts, key=lambda p: p.first)
    expected = start_year
    for part in parts:
        if part.first != expected:
            what = "missing" if part.first > expected else "given twice"
            raise DataError(
                f"the parts do not tile {start_year}..{end_year}: year {min(expected, part.first)} is {what} "
                f"(part {part.label}); rerun the missing part or delete the extra one"
            )
        expected = part.last + 1
    if expected != end_year + 1:
        raise DataError(f"the parts end in {expected - 1}, the period in {end_year}: rerun the missing parts")
    return parts


@contextmanager
def staging_folder(beside: str | Path, name: str) -> Iterator[Path]:
    """A private staging folder for a one-job build: a temporary of ``name`` in the folder of ``beside`` (the
    same file system as the outputs, so :func:`publish` is a rename); what a killed job left is removed first,
    the folder itself on exit."""
    staging = Path(beside).with_name(name)
    remove_stale_temporaries(staging)
    folder = temporary_sibling(staging)
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def publish(staging: str | Path, final: str | Path) -> None:
    """Move the finished store ``staging`` to ``final`` (same file system: one rename), replacing what was there."""
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(final)
    if final.exists():
        shutil.rmtree(final)
    os.replace(staging, final)
