"""``python -m terraflux COMMAND ...``: the package's commands.

    python -m terraflux check SOURCE PATH [PATH ...] [--configfile FILE ...]   # raw files (terraflux.check)

The config commands stay with their module: ``python -m terraflux.config docs|report-path|summary``.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

USAGE = """usage: python -m terraflux COMMAND ...

commands:
  check SOURCE PATH [PATH ...] [--configfile FILE ...]   check raw files before a run (python -m terraflux check -h)

The config commands stay with their module: python -m terraflux.config docs|report-path|summary"""


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command named first in ``argv`` (default: the command line); returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["check"]:
        from terraflux.check import main as check

        return check(argv[1:])
    print(USAGE, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
