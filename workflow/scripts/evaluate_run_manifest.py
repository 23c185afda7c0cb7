"""Write the run manifest: the provenance of the whole run.

Input:  envs/requirements.lock (the pinned environment)
Output: results/{run}/manifest.json: {"provenance": record} with the record's keys params (the validated
        config, which holds no secrets), config_hash, package_version, git_commit, environment_lock_sha256,
        python, inputs, snakemake_version.
"""

from terraflux import outputs
from terraflux.workflow.provenance import from_snakemake
from terraflux.workflow.script import setup_logging

import snakemake as snakemake_package

log = setup_logging(snakemake)
manifest = from_snakemake(
    snakemake,
    params=snakemake.params.config,
    extra={"snakemake_version": snakemake_package.__version__},
)
outputs.write_json(snakemake.output.manifest, {}, manifest)
log.info("wrote %s (config hash %s)", snakemake.output.manifest, manifest["config_hash"])
