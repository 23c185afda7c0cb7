"""Check raw files before a long run: the readers and checks of the workflow's prepare jobs, file by file.

    python -m terraflux check SOURCE PATH [PATH ...] [--configfile FILE [FILE ...]]

SOURCE is one of :data:`SOURCES` (``era5_land``, ``cerra``, ``land_cover`` (LCCS maps), ``pft`` (the ESA CCI
PFT product), ``insitu``, ``vhp``); a PATH is a file or a folder. A folder stands for the files in it that the
source's files are named with (:data:`SUFFIXES`; hidden files, e.g. the temporaries of killed jobs, are left
out); an in-situ folder is checked as a whole, as ``sources.insitu.local_dir`` (:mod:`.insitu`). The config is
``config/config.yaml`` with the config files merged on top, validated as the workflow validates it
(:mod:`.context`); with config files, files are cropped to ``region`` and checked against ``period``, the
configured variables and hours.

For each file the check prints ``ok: <file>`` and what it found (format, variables with units and extremes,
time span, grid size and spacing, the region covered; for in-situ data: sites, resolution, years), or
``error: <message>``: the one line the prepare job would stop with. Warnings the job would log follow as
``note:`` lines. The exit status is 0 when every file passes, 1 when one does not (or the config is invalid),
2 for a wrong command line. What is read: metadata and, for gridded files, each variable a block of time steps
at a time (:func:`.describe.scan`); never a whole month at once. Checks per source: :mod:`.gridded`,
:mod:`.insitu`.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from pathlib import Path

from terraflux.check import gridded
from terraflux.check.context import Context, load
from terraflux.check.insitu import insitu
from terraflux.check.report import Report, Result
from terraflux.errors import ConfigError

#: Source -> the function that checks its files.
SOURCES: dict[str, Callable[[Sequence[Path], Context], Result]] = {
    "era5_land": gridded.era5_land,
    "cerra": gridded.cerra,
    "land_cover": gridded.land_cover,
    "pft": gridded.pft,
    "insitu": insitu,
    "vhp": gridded.vhp,
}
#: Source -> the endings of the file names a folder's files are checked by (the services' and the workflow's).
SUFFIXES = {
    "era5_land": (".nc", ".zip", ".grib", ".grb", ".grib1", ".grb1"),
    "cerra": (".grib", ".grb", ".grib2", ".grb2"),
    "land_cover": (".zip", ".nc"),
    "pft": (".nc",),
    "vhp": (".nc",),
}


def expand(source: str, paths: Sequence[Path]) -> tuple[list[Path], list[Report]]:
    """The files (and, for in-situ data, folders) to check, and an error report for each folder without any."""
    if source == "insitu":
        return list(paths), []
    files, empty = [], []
    for path in paths:
        if not path.is_dir():
            files.append(path)
            continue
        found = sorted(
            p for p in path.iterdir() if p.is_file() and not p.name.startswith(".") and p.suffix in SUFFIXES[source]
        )
        if not found:
            endings = ", ".join(SUFFIXES[source])
            empty.append(Report(str(path), error=f"{path}: holds no {source} file (no name ending in {endings})"))
        files += found
    return files, empty


def run(source: str, paths: Sequence[str | Path], configfiles: Sequence[str | Path] = ()) -> Result:
    """Check ``paths`` as files of ``source`` with the config of ``configfiles`` (:func:`.context.load`); a
    ConfigError names the config key."""
    ctx = load(configfiles)
    files, empty = expand(source, [Path(p) for p in paths])
    result = SOURCES[source](files, ctx) if files else Result()
    result.reports[:0] = empty
    return result


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m terraflux check",
        description="Run the readers and checks of the workflow's prepare jobs on raw files and say, per file, "
        "what they found or the error the job would stop with.",
    )
    parser.add_argument("source", choices=sorted(SOURCES), help="the data source of the files")
    parser.add_argument("paths", nargs="+", metavar="PATH", help="files or folders (a folder: its files)")
    parser.add_argument(
        "--configfile",
        nargs="+",
        action="extend",
        default=[],
        metavar="FILE",
        help="config files merged on top of config/config.yaml (as snakemake --configfile): region, period, "
        "variables and hours then apply",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """The command line (module doc); returns the exit status."""
    args = _parser().parse_args(argv)
    try:
        result = run(args.source, args.paths, args.configfile)
    except ConfigError as error:
        print(f"error: {error}")
        return 1
    for report in result.reports:
        print("\n".join(report.lines()))
    for note in result.notes:
        print(f"note: {note}")
    failed = sum(not report.ok for report in result.reports)
    print(f"{args.source}: {len(result.reports)} checked, {len(result.reports) - failed} ok, {failed} with an error")
    return 1 if failed else 0
