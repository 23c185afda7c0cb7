# Two commands set everything up on a fresh machine (Python 3.11, package registries only):
#   make run    create the pinned environment if needed, run the whole workflow on config/config.yaml,
#               build the report and print where results and report are
#   make test   create the pinned environment if needed, run the whole test suite
# Other targets: make env, make dry-run, make test-fast (the unit tests, under 2 minutes), make lint,
# make bench, make clean.

PYTHON  ?= python3
VENV    ?= .venv
CONFIG  ?= config/config.yaml
CORES   ?= 2
PYTEST_ARGS ?=
BIN     := $(VENV)/bin
# The stamp changes whenever the lock file or the package metadata changes, so `make` reinstalls.
STAMP   := $(VENV)/.installed-$(shell cat envs/requirements.lock pyproject.toml | cksum | cut -d' ' -f1)

.PHONY: env run dry-run test test-fast lint bench clean
env: $(STAMP)

$(STAMP): envs/requirements.lock pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	# torch first and pinned: later resolution then never pulls another (CUDA) build.
	$(BIN)/python -m pip install -q torch==2.13.0
	$(BIN)/python -m pip install -q -r envs/requirements.lock
	$(BIN)/python -m pip install -q --no-deps --no-build-isolation -e .
	rm -f $(VENV)/.installed-*
	touch $@

run: env
	$(BIN)/snakemake --configfile $(CONFIG) --cores $(CORES)
	$(BIN)/snakemake --configfile $(CONFIG) --cores $(CORES) --report $$($(BIN)/python -m terraflux.config report-path $(CONFIG))
	@$(BIN)/python -m terraflux.config summary $(CONFIG)

dry-run: env
	$(BIN)/snakemake --configfile $(CONFIG) -n

test: env
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# Everything but the workflow runs (slow), the real Slurm cluster (slurm) and CUDA (gpu): markers in pyproject.toml.
test-fast: env
	$(BIN)/python -m pytest -m "not slow and not slurm and not gpu" $(PYTEST_ARGS)

lint: env
	$(BIN)/snakemake --lint
	$(BIN)/snakemake --lint --configfile config/europe.yaml
	$(BIN)/snakefmt --check Snakefile workflow/rules
	$(BIN)/ruff check
	$(BIN)/ruff format --check

bench: env
	for b in bench/bench_*.py; do $(BIN)/python $$b || exit 1; done

clean:
	rm -rf resources/*/ results/*/ logs benchmarks .snakemake
