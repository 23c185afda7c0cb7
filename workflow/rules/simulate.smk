# Layer 'simulate': the bottom-up process model (terraflux.simulate) on the prepared monthly drivers, or the
# conversion of a user-supplied process-model file (simulate.external_file). Output layout: docs/data-layout.md.

PROCESS_MODEL = resources_path("process_model.zarr")


SIMULATE = config["simulate"]
SIMULATE_INPUTS = {
    "drivers": PREPARED["era5_land_monthly.zarr"],
    "pft": PREPARED["pft.zarr"],
    "parameters": SIMULATE["parameters_file"]
    or repo_file("src/terraflux/data/process_model_parameters.yaml"),
    "code": code_stamp("simulate"),
}
if SIMULATE["external_file"]:
    SIMULATE_INPUTS["external"] = SIMULATE["external_file"]


rule simulate_process_model:
    """Process model per cell, PFT group and age class: GPP, NPP, Ra, Rh, RECO, NEE, LAI, fAPAR, Cveg, Csoil."""
    input:
        **SIMULATE_INPUTS,
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
        simulate=SIMULATE,
    script:
        "../scripts/simulate_process_model.py"


ALL_TARGETS.append(PROCESS_MODEL)
