"""terraflux: land-surface machine learning from raw data to evaluated models.

Layers (one rule file each): acquire -> prepare -> simulate -> model stages (dere, ide) -> evaluate.
Run `snakemake -n` for the plan; `make run` for the whole demo; README.md for everything else.
"""

from snakemake.utils import min_version

min_version("9.0")


configfile: f"{workflow.basedir}/config/config.yaml"


report: "workflow/report/workflow.rst"


wildcard_constraints:
    year=r"\d{4}",
    month=r"\d{2}",
    week=r"\d{3}",


include: "workflow/rules/common.smk"
include: "workflow/rules/acquire.smk"
include: "workflow/rules/prepare.smk"
include: "workflow/rules/simulate.smk"
include: "workflow/rules/dere.smk"
include: "workflow/rules/ide.smk"
include: "workflow/rules/spatial.smk"
include: "workflow/rules/evaluate.smk"


rule all:
    default_target: True
    input:
        ALL_TARGETS,
