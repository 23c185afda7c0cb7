"""Library helpers for scripts: atomic outputs, logging and error lines, provenance, clean exit."""

import subprocess
import sys
import textwrap

from terraflux.workflow.atomic import atomic_output, temporary_sibling
from terraflux.workflow.paths import RunPaths
from terraflux.workflow.provenance import record, sha256_path

import pytest


def test_atomic_output_publishes_a_file_on_success(tmp_path):
    target = tmp_path / "sub" / "out.txt"
    with atomic_output(target) as tmp:
        tmp.write_text("done")
        assert not target.exists()
    assert target.read_text() == "done"
    assert not temporary_sibling(target).exists()


def test_atomic_output_leaves_nothing_on_failure_and_keeps_old_output(tmp_path):
    target = tmp_path / "store.zarr"
    target.mkdir()
    (target / "old").write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_output(target) as tmp:
            tmp.mkdir()
            (tmp / "partial").write_text("x")
            raise RuntimeError("killed")
    assert (target / "old").read_text() == "old"
    assert not temporary_sibling(target).exists()


def test_atomic_output_replaces_an_existing_directory(tmp_path):
    target = tmp_path / "store.zarr"
    target.mkdir()
    (target / "old").write_text("old")
    with atomic_output(target) as tmp:
        tmp.mkdir()
        (tmp / "new").write_text("new")
    assert sorted(p.name for p in target.iterdir()) == ["new"]


def test_run_paths_put_everything_under_the_run_name():
    paths = RunPaths("r1")
    assert paths.resources("x.zarr") == "resources/r1/x.zarr"
    assert paths.raw("era5") == "resources/r1/raw/era5"
    assert paths.results("m.json") == "results/r1/m.json"
    assert paths.logs("a.log") == "logs/r1/a.log"
    assert paths.benchmarks("a.tsv") == "benchmarks/r1/a.tsv"
    assert paths.report() == "results/r1/report.html"


def test_provenance_is_deterministic_and_hashes_inputs(tmp_path):
    store = tmp_path / "s.zarr"
    (store / "a").mkdir(parents=True)
    (store / "a" / "0").write_bytes(b"abc")
    one = record(rule="r", params={"a": 1}, inputs=[store])
    two = record(rule="r", params={"a": 1}, inputs=[store])
    assert one == two
    assert one["inputs"][str(store)] == sha256_path(store)
    (store / "a" / "0").write_bytes(b"abd")
    assert record(rule="r", params={"a": 1}, inputs=[store])["inputs"] != one["inputs"]


def _run_script(tmp_path, body):
    log = tmp_path / "job.log"
    script = tmp_path / "script.py"
    script.write_text(
        textwrap.dedent(
            f"""
            from terraflux.workflow.script import setup_logging
            from terraflux.errors import DataError
            log = setup_logging(log_path={str(log)!r})
            log.info("starting")
            """
        )
        + textwrap.dedent(body)
    )
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True)
    return done, log.read_text()


def test_user_error_prints_one_line_and_logs_the_traceback(tmp_path):
    done, log = _run_script(tmp_path, 'raise DataError("file x.nc is truncated: download it again")\n')
    assert done.returncode != 0
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert lines == [
        f"terraflux [terraflux]: file x.nc is truncated: download it again (full traceback in {tmp_path / 'job.log'})"
    ]
    assert "starting" in log and "Traceback" in log and "DataError" in log


def test_unexpected_error_names_its_type(tmp_path):
    done, log = _run_script(tmp_path, "1 / 0\n")
    assert "unexpected ZeroDivisionError" in done.stderr
    assert "ZeroDivisionError" in log


@pytest.mark.parametrize("order", ["eccodes, pyproj", "cfgrib, rioxarray, netCDF4, h5py, torch"])
def test_interpreter_exits_cleanly_with_every_native_library(order):
    # eccodes' bundled libproj crashes the interpreter at exit when loaded before pyproj; terraflux fixes it.
    done = subprocess.run([sys.executable, "-c", f"import terraflux, {order}"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
