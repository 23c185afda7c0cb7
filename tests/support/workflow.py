"""Running the workflow's Snakefile from tests."""

import os
import subprocess
from pathlib import Path

from support.paths import BIN, REPO_ROOT


def snakemake(
    *args: str, workdir: Path | None = None, timeout: int = 600, check: bool = True
) -> subprocess.CompletedProcess:
    """Run the workflow's Snakefile with the test environment's snakemake, from the repository root.

    With ``workdir`` the outputs (resources/, results/, logs/, .snakemake/) go there, not into the checkout.
    ``check``: a non-zero exit fails the test with the end of snakemake's output.
    """
    cmd = [str(BIN / "snakemake"), "--snakefile", str(REPO_ROOT / "Snakefile")]
    if workdir is not None:
        cmd += ["--directory", str(workdir)]
    cmd += list(args)
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    done = subprocess.run(cmd, cwd=REPO_ROOT, capture_output=True, text=True, timeout=timeout, env=env)
    if check and done.returncode != 0:
        raise AssertionError(
            f"snakemake {' '.join(args)} failed ({done.returncode}):\n{done.stdout[-4000:]}\n{done.stderr[-8000:]}"
        )
    return done
