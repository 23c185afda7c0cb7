# Layer 'evaluate': rules are added by the work on this layer (see README, 'Stages').


rule evaluate_run_manifest:
    """Provenance of the whole run: validated config, its hash, package version, git commit, environment."""
    input:
        lock=repo_file("envs/requirements.lock"),
    output:
        manifest=results("manifest.json"),
    log:
        logs("evaluate_run_manifest.log"),
    benchmark:
        benchmarks("evaluate_run_manifest.tsv")
    localrule: True
    conda:
        ENV
    params:
        config=config,
    script:
        "../scripts/evaluate_run_manifest.py"


ALL_TARGETS.append(results("manifest.json"))
