"""Library helpers for scripts: atomic outputs, stale temporaries, logging and error lines (every attempt
kept), provenance, clean exit."""

import os
import subprocess
import sys
import textwrap

from terraflux.workflow.atomic import atomic_output, remove_stale_temporaries, temporary_sibling
from terraflux.workflow.paths import RunPaths
from terraflux.workflow.provenance import record, sha256_path
from terraflux.workflow.script import attempts_path

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


def dead_pid() -> int:
    """The pid of a process that has ended."""
    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    return int(done.stdout)


def stale_and_live_temporaries(folder, name):
    """Temporaries of ``folder/name`` left by killed jobs (here, on another host, in the old naming, a parts
    folder), one of a live process on this host, and one of another target; returns (stale, kept)."""
    host = temporary_sibling(folder / name).name.split(".tmp-")[1].rsplit("-", 1)[0]
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    stale = [
        folder / f".{name}.tmp-{host}-{dead_pid()}",
        folder / f".{name}.tmp-othernode-{os.getpid()}",
        folder / f".{name}.tmp-{dead_pid()}",
        folder / f".{name}.tmp-othernode-77.parts",
    ]
    kept = [folder / f".{name}.tmp-{host}-{live.pid}", folder / f".other_{name}.tmp-othernode-1", folder / name]
    for path in stale + kept:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.mkdir() if path.name.endswith(".parts") else path.write_text("partial")
    (stale[-1] / "part-1").write_text("partial")
    return stale, kept, live


def test_stale_temporaries_of_the_target_are_removed_others_kept(tmp_path):
    stale, kept, live = stale_and_live_temporaries(tmp_path, "month.nc")
    try:
        assert sorted(remove_stale_temporaries(tmp_path / "month.nc")) == sorted(stale)
    finally:
        live.kill()
    assert sorted(p for p in tmp_path.iterdir()) == sorted(kept)


def test_atomic_output_removes_what_killed_jobs_left(tmp_path):
    target = tmp_path / "store.zarr"
    stale, kept, live = stale_and_live_temporaries(tmp_path, target.name)
    live.kill()
    live.wait()
    with atomic_output(target) as tmp:
        tmp.mkdir()
    left = sorted(p.name for p in tmp_path.iterdir())
    assert left == sorted(["store.zarr", kept[1].name]), left  # the now dead process's temporary went too


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


def test_the_log_keeps_every_attempt_until_the_job_succeeds(tmp_path):
    log = tmp_path / "job.log"
    done, first = _run_script(tmp_path, 'raise DataError("attempt one failed")\n')
    assert done.returncode != 0 and "attempt 1:" in first and "attempt one failed" in first
    log.unlink()  # Snakemake deletes a job's log before running it again
    done, second = _run_script(tmp_path, "1 / 0\n")
    assert second.startswith(first)  # the failed attempt, traceback included, is still there
    assert "attempt 2:" in second and "ZeroDivisionError" in second
    assert attempts_path(log).exists()
    log.unlink()
    done, third = _run_script(tmp_path, 'log.info("done")\n')
    assert done.returncode == 0
    assert third.startswith(second) and "attempt 3:" in third and "done" in third
    assert not attempts_path(log).exists()  # the job succeeded: the next run starts a fresh log
    log.unlink()
    done, fourth = _run_script(tmp_path, 'log.info("again")\n')
    assert "attempt 1:" in fourth and "attempt 2" not in fourth and "ZeroDivisionError" not in fourth


def test_a_process_started_by_the_job_continues_its_attempt(tmp_path):
    child = tmp_path / "child.py"
    child.write_text(
        "from terraflux.workflow.script import setup_logging\n"
        f"setup_logging(log_path={str(tmp_path / 'job.log')!r}).info('from the child')\n"
    )
    body = f"import subprocess, sys\nsubprocess.run([sys.executable, {str(child)!r}], check=True)\n"
    done, log = _run_script(tmp_path, body)
    assert done.returncode == 0, done.stderr
    assert log.count("===== terraflux") == 1 and "starting" in log and "from the child" in log


def test_the_job_starts_by_removing_what_killed_jobs_left_beside_its_outputs(tmp_path):
    out = tmp_path / "raw" / "month.nc"
    stale, kept, live = stale_and_live_temporaries(out.parent, out.name)
    script = tmp_path / "job.py"
    script.write_text(
        "from types import SimpleNamespace\n"
        "from terraflux.workflow.script import setup_logging\n"
        f"job = SimpleNamespace(rule='download', log=[{str(tmp_path / 'job.log')!r}], output=[{str(out)!r}])\n"
        "setup_logging(job)\n"
    )
    try:
        done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True)
    finally:
        live.kill()
    assert done.returncode == 0, done.stderr
    assert sorted(out.parent.iterdir()) == sorted(kept)
    assert all(f"removed {path}" in (tmp_path / "job.log").read_text() for path in stale)


@pytest.mark.parametrize("order", ["eccodes, pyproj", "cfgrib, rioxarray, netCDF4, h5py, torch"])
def test_interpreter_exits_cleanly_with_every_native_library(order):
    # eccodes' bundled libproj crashes the interpreter at exit when loaded before pyproj; terraflux fixes it.
    done = subprocess.run([sys.executable, "-c", f"import terraflux, {order}"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
