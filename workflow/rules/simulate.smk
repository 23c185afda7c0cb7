# Layer 'simulate': the bottom-up process model (terraflux.simulate) on the prepared monthly drivers, or the
# conversion of a user-supplied process-model file (simulate.external_file). Output layout: docs/data-layout.md.

PROCESS_MODEL = resources_path("process_model.zarr")


def simulate_inputs(wildcards):
    files = {
        "drivers": PREPARED["era5_land_monthly.zarr"],
        "pft": PREPARED["pft.zarr"],
        "code": library("simulate"),
    }
    spec = config["simulate"]
    files["parameters"] = spec["parameters_file"] or repo_file(
        "src/terraflux/data/process_model_parameters.yaml"
    )
    if spec["external_file"]:
        files["external"] = spec["external_file"]
    return files


rule simulate_process_model:
    """Process model per cell, PFT group and age class: GPP, NPP, Ra, Rh, RECO, NEE, LAI, fAPAR, Cveg, Csoil."""
    input:
        unpack(simulate_inputs),
    output:
        process=directory(PROCESS_MODEL),
        metrics=results("simulate/metrics.json"),
    log:
        logs("simulate_process_model.log"),
    benchmark:
        benchmarks("simulate_process_model.tsv")
    conda:
        ENV
    threads: job_threads("simulate")
    resources:
        **job_resources("simulate"),
    params:
        simulate=config["simulate"],
    script:
        "../scripts/simulate_process_model.py"


ALL_TARGETS.append(PROCESS_MODEL)
