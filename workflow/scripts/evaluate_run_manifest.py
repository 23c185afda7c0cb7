"""Write the run manifest: the provenance of the whole run.

Input:  envs/requirements.lock (the pinned environment)
Output: results/{run}/manifest.json with keys
        config (the validated config, which holds no secrets), config_hash, package_version, git_commit,
        environment_lock_sha256, python, snakemake_version.
"""

import json

import snakemake as snakemake_package

from terraflux.workflow.atomic import atomic_output
from terraflux.workflow.provenance import from_snakemake
from terraflux.workflow.script import setup_logging

log = setup_logging(snakemake)
manifest = from_snakemake(
    snakemake,
    params=snakemake.params.config,
    extra={"snakemake_version": snakemake_package.__version__},
)
with atomic_output(snakemake.output.manifest) as tmp:
    tmp.write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
log.info("wrote %s (config hash %s)", snakemake.output.manifest, manifest["config_hash"])
