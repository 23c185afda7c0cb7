"""Helpers shared by the tests (imported as ``support.<module>``; tests/ is on ``sys.path`` under pytest).

- :mod:`support.paths`: the checkout, the test configs, the real sample files, the environment's binaries;
- :mod:`support.configs`: the test configurations in ``tests/configs/*.yaml``;
- :mod:`support.workflow`: running the workflow's Snakefile with ``snakemake``;
- :mod:`support.tiny_demo`: targets and rule sets of the tiny demo config (``tests/configs/tiny.yaml``);
- :mod:`support.dere_world`: a tiny prepared world for the simulate/DERE/CSDI tests;
- :mod:`support.slurm_cluster`: a real single-node Slurm for the tests marked ``slurm``;
- :mod:`support.fake_cds`: a fake Climate Data Store and HTTPS file host on 127.0.0.1 for the download tests;
- :mod:`support.ide_config`: IDE settings built from the schema defaults;
- ``support/workers/``: scripts the tests start as separate processes (training ranks, test rules).

Fixtures (``repo_root``, ``samples``, ``slurm``) are registered in tests/conftest.py.
"""
