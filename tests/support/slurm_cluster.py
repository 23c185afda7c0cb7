"""A real single-node Slurm for the tests (munge, slurmctld, slurmd), brought up in about 15 s.

Set-up (Debian 12, Slurm 22.05 from Debian's packages, as root, no systemd; see the Slurm
quick-start administrator guide, https://slurm.schedmd.com/quickstart_admin.html):

- installs ``slurmctld slurmd slurm-client munge`` with apt when missing (needs root);
- writes ``/etc/slurm/slurm.conf`` and ``gres.conf`` at the DEFAULT path (the jobstep plugin strips the
  ``SLURM_*`` environment, so ``SLURM_CONF`` would not reach the inner ``srun``), marked as ours; an existing
  configuration that is not ours is never touched (the tests skip);
- one node ``localhost`` with this machine's CPUs and memory and a fake GPU (``gres gpu`` on ``/dev/null``:
  jobs asking ``--gpus=1`` or ``--gres=gpu:1`` schedule and see ``CUDA_VISIBLE_DEVICES=0``).

Job status without accounting. Snakemake's Slurm plugin polls ``sacct`` when the binary exists; without a
slurmdbd ``sacct`` fails. We choose ``--slurm-status-command squeue`` (given on the test command line) with
``MinJobAge=3600`` (finished jobs stay visible to ``squeue``/``scontrol`` for an hour, far longer than a
test) over slurmdbd + MariaDB: no database server to install, start and stop (fewer moving parts, ~2 s
and a larger apt install saved), and the same plugin code path users get with ``status-command: squeue``.
For a permanent record of every job (state, exit code, allocated TRES incl. ``gres/gpu``) the controller
writes the job-completion log ``jobcomp/filetxt``, which :meth:`SlurmCluster.finished_jobs` parses.

Daemons are stopped by the PIDs in their pid files, never by name; every command runs under a hard
``timeout -s KILL``. Teardown (:meth:`SlurmCluster.stop`) also ends every process of the cluster's jobs,
even those that escaped Slurm's process tracking (daemonised, or left behind when a test timed out and
slurmd went first): ``scancel`` of every job and a wait until they are gone, then the daemons, then
SIGKILL to each process that is a job-step daemon of this cluster (``slurmstepd`` working in
:data:`STATE`) or carries this cluster's job environment (``SLURM_CLUSTER_NAME``), with its process
group. Nothing else is touched: the selection is by what the process is, never by name.

While the cluster is down its slurm.conf says ``MessageTimeout=1``: a Slurm client then fails at once
instead of retrying for 9 s. That matters beyond these tests: Snakemake's Slurm plugin runs ``scontrol
show config`` whenever it is imported, i.e. at every ``snakemake`` start on a machine where the plugin
and the Slurm client are installed (every later workflow test, and bench/bench_dag.py, paid 9 s each).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

MARKER = "# written by terraflux tests/slurm_cluster.py"  # unchanged since the module moved: finds older configs
CLUSTER_NAME = "terraflux-test"
UP_MESSAGE_TIMEOUT = 10  # Slurm's default, while the daemons run (a loaded CI machine can be slow to answer)
DOWN_MESSAGE_TIMEOUT = 1  # once they are stopped: clients fail at once (see the module docstring)
CONF_DIR = Path("/etc/slurm")
STATE = Path("/tmp/terraflux-slurm")  # fixed, so that daemons of a crashed earlier run can be found and stopped
PACKAGES = ["slurmctld", "slurmd", "slurm-client", "munge"]
BINARIES = ["/usr/sbin/slurmctld", "/usr/sbin/slurmd", "/usr/sbin/munged", "/usr/bin/sbatch", "/usr/bin/squeue"]


def run(cmd: list[str], timeout: int = 60, check: bool = True, **kwargs) -> subprocess.CompletedProcess:
    """Run ``cmd`` under ``timeout -s KILL`` (a hung Slurm client can never hang the test run)."""
    done = subprocess.run(["timeout", "-s", "KILL", str(timeout), *cmd], capture_output=True, text=True, **kwargs)
    if check and done.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({done.returncode}):\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    return done


def _alive(pid: int) -> bool:
    if pid <= 1:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie counts as gone
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return False


def _stop_pidfile(pidfile: Path, wait: float = 10.0) -> None:
    """SIGTERM the process whose PID is in ``pidfile``, SIGKILL it if still alive after ``wait`` s."""
    if not pidfile.exists():
        return
    try:
        pid = int(pidfile.read_text().split()[0])
    except (ValueError, IndexError):
        pidfile.unlink()
        return
    if pid > 1 and _alive(pid):
        os.kill(pid, 15)
        deadline = time.monotonic() + wait
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        if _alive(pid):
            os.kill(pid, 9)
    pidfile.unlink(missing_ok=True)


def _process_info(pid: int) -> tuple[bytes, bytes, str]:
    """(cmdline, environ, cwd) of ``pid``; empty when it is gone or unreadable."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        environ = Path(f"/proc/{pid}/environ").read_bytes()
        cwd = os.readlink(f"/proc/{pid}/cwd")
    except OSError:
        return b"", b"", ""
    return cmdline, environ, cwd


def cluster_processes(state: Path = STATE, cluster: str = CLUSTER_NAME) -> list[int]:
    """PIDs of the live processes that belong to this test cluster's jobs (not its daemons).

    A job-step daemon (``slurmstepd``) working in ``state``, or any process whose environment says it
    runs in a job of ``cluster`` (Slurm sets ``SLURM_CLUSTER_NAME`` in every job and task, and children
    inherit it, also when they daemonise). This process and its ancestors are never listed.
    """
    own = set()
    pid = os.getpid()
    while pid > 1:
        own.add(pid)
        try:
            pid = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            break
    marker = f"SLURM_CLUSTER_NAME={cluster}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) in own or not _alive(int(entry.name)):
            continue
        cmdline, environ, cwd = _process_info(int(entry.name))
        stepd = cmdline.startswith(b"slurmstepd") and (cwd == str(state) or cwd.startswith(f"{state}/"))
        if stepd or marker in environ.split(b"\0"):
            found.append(int(entry.name))
    return found


def kill_cluster_processes(state: Path = STATE, cluster: str = CLUSTER_NAME, rounds: int = 5) -> list[int]:
    """SIGKILL every process of :func:`cluster_processes` and its process group; returns the PIDs killed.

    Repeated until none is left (a step daemon may start a task while we look). A process group is
    killed only when its leader is itself one of those processes (never the test's own group).
    """
    killed: list[int] = []
    own_group = os.getpgrp()
    for _ in range(rounds):
        pids = cluster_processes(state, cluster)
        if not pids:
            break
        for pid in pids:
            try:
                group = os.getpgid(pid)
                if group in pids and group != own_group:
                    os.killpg(group, 9)
                os.kill(pid, 9)
            except (ProcessLookupError, PermissionError):
                pass
        killed += pids
        deadline = time.monotonic() + 5
        while any(_alive(pid) for pid in pids) and time.monotonic() < deadline:
            time.sleep(0.05)
    return killed


def mark_down(conf: Path = CONF_DIR / "slurm.conf") -> None:
    """Set ``MessageTimeout`` of our (never another) slurm.conf to :data:`DOWN_MESSAGE_TIMEOUT`."""
    try:
        text = conf.read_text()
    except OSError:
        return
    if MARKER not in text:
        return
    lines = [line for line in text.splitlines() if not line.startswith("MessageTimeout=")]
    conf.write_text("\n".join([*lines, f"MessageTimeout={DOWN_MESSAGE_TIMEOUT}"]) + "\n")


def _memory_mb() -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) // 1024 - 512  # leave some to the OS
    raise RuntimeError("no MemTotal in /proc/meminfo")


def unavailable_reason() -> str | None:
    """Why a real Slurm cannot be brought up here (None when it can)."""
    if os.geteuid() != 0:
        return "a real Slurm needs root (daemons, /etc/slurm, munge); run the tests as root or in CI"
    if (CONF_DIR / "slurm.conf").exists() and MARKER not in (CONF_DIR / "slurm.conf").read_text():
        return f"{CONF_DIR / 'slurm.conf'} belongs to another Slurm installation; not touching it"
    if all(Path(b).exists() for b in BINARIES):
        return None
    if shutil.which("apt-get") is None:
        return f"Slurm is not installed ({', '.join(PACKAGES)}) and apt-get is not available"
    install = ["apt-get", "install", "-y", "--no-install-recommends", *PACKAGES]
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    done = run(install, timeout=300, check=False, env=env)
    if done.returncode != 0:  # package lists may be missing on a fresh image
        run(["apt-get", "update"], timeout=300, check=False, env=env)
        done = run(install, timeout=300, check=False, env=env)
    if done.returncode != 0 or not all(Path(b).exists() for b in BINARIES):
        return f"could not install Slurm with apt-get: {done.stderr.strip()[-500:]}"
    return None


@dataclass
class SlurmCluster:
    """A running single-node Slurm; :meth:`start` brings it up, :meth:`stop` tears it down by PID."""

    state: Path = STATE
    cpus: int = field(default_factory=lambda: os.cpu_count() or 1)
    memory_mb: int = field(default_factory=_memory_mb)

    @property
    def jobcomp(self) -> Path:
        return self.state / "jobcomp.txt"

    def pidfile(self, daemon: str) -> Path:
        return self.state / f"{daemon}.pid"

    def _pid(self, daemon: str) -> int:
        try:
            return int(self.pidfile(daemon).read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return -1

    def write_config(self) -> None:
        for sub in ("ctld", "d", "log"):
            (self.state / sub).mkdir(parents=True, exist_ok=True)
        CONF_DIR.mkdir(parents=True, exist_ok=True)
        s = self.state
        (CONF_DIR / "slurm.conf").write_text(
            f"""{MARKER}
ClusterName={CLUSTER_NAME}
SlurmctldHost=localhost
SlurmUser=root
AuthType=auth/munge
StateSaveLocation={s}/ctld
SlurmdSpoolDir={s}/d
SlurmctldPidFile={self.pidfile("slurmctld")}
SlurmdPidFile={self.pidfile("slurmd")}
SlurmctldLogFile={s}/log/slurmctld.log
SlurmdLogFile={s}/log/slurmd.log
ProctrackType=proctrack/linuxproc
MpiDefault=none
MailProg=/bin/true
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=500
ReturnToService=2
MinJobAge=3600
SchedulerParameters=sched_interval=1
MessageTimeout={UP_MESSAGE_TIMEOUT}
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/filetxt
JobCompLoc={self.jobcomp}
GresTypes=gpu
NodeName=localhost NodeAddr=127.0.0.1 CPUs={self.cpus} RealMemory={self.memory_mb} Gres=gpu:1 State=UNKNOWN
PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP
"""
        )
        (CONF_DIR / "gres.conf").write_text(f"{MARKER}\nAutoDetect=off\nNodeName=localhost Name=gpu File=/dev/null\n")

    def start(self, timeout: float = 60) -> None:
        self.stop()  # daemons of an earlier, crashed run
        shutil.rmtree(self.state, ignore_errors=True)
        self.write_config()
        munge_run = Path("/run/munge")
        munge_run.mkdir(parents=True, exist_ok=True)
        shutil.chown(munge_run, "munge", "munge")
        run(["runuser", "-u", "munge", "--", "/usr/sbin/munged", f"--pid-file={munge_run / 'munged.pid'}"])
        # munged's pid file lives in /run/munge (writable by munge); keep a copy with ours
        self._copy_pidfile(munge_run / "munged.pid", self.pidfile("munged"))
        run(["/usr/sbin/slurmctld"])
        run(["/usr/sbin/slurmd", "-N", "localhost"])
        deadline = time.monotonic() + timeout
        state = ""
        while time.monotonic() < deadline:
            done = run(["sinfo", "-h", "-N", "-o", "%T"], check=False, timeout=10)
            state = done.stdout.strip()
            if state in ("idle", "mixed", "allocated"):
                return
            if not all(_alive(self._pid(d)) for d in ("slurmctld", "slurmd")):
                break
            time.sleep(0.5)
        log = (self.state / "log" / "slurmctld.log").read_text()[-2000:] if (self.state / "log").exists() else ""
        self.stop()
        raise RuntimeError(f"Slurm node not idle (state {state!r}); end of slurmctld.log:\n{log}")

    @staticmethod
    def _copy_pidfile(src: Path, dst: Path, wait: float = 10) -> None:
        deadline = time.monotonic() + wait
        while not src.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        dst.write_text(src.read_text())

    def cancel_all(self, wait: float = 15) -> None:
        """Cancel every job and wait (up to ``wait`` s) until they have ended (the daemons keep running)."""
        if _alive(self._pid("slurmctld")):
            active = ["squeue", "-h", "-t", "PENDING,RUNNING,SUSPENDED,COMPLETING,CONFIGURING", "-o", "%i"]
            ids = run(active, check=False, timeout=10).stdout.split()
            if ids:
                run(["scancel", *ids], check=False, timeout=10)
                deadline = time.monotonic() + wait
                while time.monotonic() < deadline and run(active, check=False, timeout=10).stdout.split():
                    time.sleep(0.2)

    def stop(self, wait: float = 15) -> None:
        """Cancel every job and wait (up to ``wait`` s) until they have ended; stop slurmd, slurmctld and
        munged by their PIDs; then SIGKILL whatever is left of the jobs (:func:`kill_cluster_processes`)."""
        self.cancel_all(wait)
        for daemon in ("slurmd", "slurmctld", "munged"):
            _stop_pidfile(self.pidfile(daemon))
        kill_cluster_processes(self.state)
        mark_down()

    def finished_jobs(self) -> list[dict[str, str]]:
        """Every finished job from the job-completion log: JobId, Name, JobState, ExitCode, Tres, WorkDir..."""
        if not self.jobcomp.exists():
            return []
        jobs = []
        for line in self.jobcomp.read_text().splitlines():
            # "Key=value Key=value ..." where values have no spaces except WorkDir/Name (rare; not ours)
            jobs.append(dict(item.split("=", 1) for item in line.split() if "=" in item))
        return jobs

    def show_job(self, job_id: str) -> dict[str, str]:
        """``scontrol show job`` as a dict (the request as submitted: TresPerJob/TresPerNode, MinMemoryNode)."""
        out = run(["scontrol", "-o", "show", "job", job_id], timeout=10).stdout
        return dict(item.split("=", 1) for item in out.split() if "=" in item)


# What `snakemake --profile slurm` in a test adds to the profile users get: a site without accounting
# (`squeue` for the job status) and short polling and latency values.
TEST_FLAGS = [
    "--slurm-status-command",
    "squeue",
    "--slurm-init-seconds-before-status-checks",
    "1",
    "--latency-wait",
    "5",
    "--slurm-keep-successful-logs",
]
SUBMITTED = re.compile(r"Job \d+ has been submitted with SLURM jobid (\d+) \(log: \S*/slurm_logs/rule_([A-Za-z0-9_]+)/")


def submitted_jobs(done: subprocess.CompletedProcess) -> dict[str, str]:
    """Slurm job id -> rule name, from snakemake's own lines."""
    return {job: rule for job, rule in SUBMITTED.findall(done.stdout + done.stderr)}


def check_all_completed(slurm: SlurmCluster, jobs: dict[str, str]) -> None:
    """Every job in ``jobs`` (Slurm job id -> rule) completed with exit code 0, by the job-completion log."""
    finished = {job["JobId"]: job for job in slurm.finished_jobs()}
    for job_id, rule in jobs.items():
        assert job_id in finished, f"Slurm has no completion record of job {job_id} ({rule})"
        assert finished[job_id]["JobState"] == "COMPLETED", f"job {job_id} ({rule}): {finished[job_id]}"
        assert finished[job_id]["ExitCode"] == "0:0"


_SHARED: SlurmCluster | None = None


def module_cluster(request):
    """Body of the ``slurm`` fixture (tests/conftest.py): a running single-node Slurm, brought up once per
    test session (about 15 s each time saved) and shared by the modules that use it. After each module every
    job is cancelled and whatever is left of the jobs' processes killed, so no module sees another's jobs;
    torn down by PID when the session ends, failed or not (or earlier by :func:`take_down`)."""
    global _SHARED
    reason = unavailable_reason()
    if reason:
        pytest.skip(reason)
    if _SHARED is None:
        cluster = SlurmCluster()
        request.config.add_cleanup(cluster.stop)  # also when start() fails half-way
        cluster.start()
        _SHARED = cluster
    try:
        yield _SHARED
    finally:
        if _SHARED is not None:
            _SHARED.cancel_all()
            kill_cluster_processes(_SHARED.state)


def take_down() -> None:
    """Stop the shared cluster now; the next module that asks for one brings up a new one."""
    global _SHARED
    if _SHARED is not None:
        _SHARED.stop()
        _SHARED = None
