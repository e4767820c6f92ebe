"""The faults the matrix injects, each a blocking call that returns when the fault has ended.

Rules kept here:
- Only processes this run started, or the private Kafka and PostgreSQL of this DEV_DIR
  (found by their pid files, checked by command line), are signalled; always by pid.
- Kafka gets SIGKILL. PostgreSQL gets SIGQUIT on its postmaster: the immediate stop (no
  checkpoint, crash recovery on restart), what `pg_ctl stop -m immediate` sends; a SIGKILL of
  the postmaster alone would leave its backends holding the shared memory, so no restart.
- Restarts go through the project's scripts (`scripts/kafka.sh start`, `scripts/postgres.sh
  start`), which wait until the server answers.
- Each call returns the moment the fault ended (the thing answers again), as a UTC time.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from datetime import UTC, datetime
from pathlib import Path

from tests.support.infra import DEV, ROOT
from tests.support.processes import ServiceProcess


def now() -> datetime:
    return datetime.now(UTC)


def crash_and_restart(processes: list[ServiceProcess], down_for: float) -> datetime:
    """kill -9 each process, wait `down_for` seconds, start them again and wait until ready."""
    for process in processes:
        process.kill()
    time.sleep(down_for)
    for process in processes:
        process.start()
    for process in processes:
        process.wait_ready("/healthz" if process.name.startswith("receiver") else "/readyz", 120)
    return now()


def provider_outage(receiver: ServiceProcess, down_for: float) -> datetime:
    """The provider's system is gone (SIGTERM, not answering) for `down_for` seconds."""
    receiver.stop()
    time.sleep(down_for)
    receiver.start().wait_ready("/healthz", timeout=60)
    return now()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    return not stat.exists() or stat.read_text().split()[2] not in ("Z", "X")


def _wait_gone(pid: int, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while _alive(pid):
        if time.monotonic() > deadline:
            raise RuntimeError(f"pid {pid} still alive {timeout} s after the signal")
        time.sleep(0.2)


def _pid_of(pidfile: Path, expect_in_cmdline: str) -> int:
    pid = int(pidfile.read_text().split()[0])
    cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    if expect_in_cmdline not in cmdline:
        raise RuntimeError(f"{pidfile} names pid {pid}, which is not {expect_in_cmdline}")
    return pid


def _script(*args: str) -> None:
    result = subprocess.run(
        ["bash", str(ROOT / "scripts" / args[0]), *args[1:]],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"scripts/{' '.join(args)} failed:\n{result.stderr[-3000:]}")


def kill_kafka(down_for: float) -> datetime:
    pid = _pid_of(DEV / "run" / "kafka.pid", "kafka.Kafka")
    os.kill(pid, signal.SIGKILL)
    _wait_gone(pid)
    time.sleep(down_for)
    _script("kafka.sh", "start")
    return now()


def postgres_data_dir() -> Path:
    # scripts/postgres.sh keeps the cluster elsewhere when root's server user cannot reach .dev
    location = DEV / "pg-location"
    base = Path(location.read_text().strip()) if location.exists() else DEV / "pg"
    return base / "data"


def stop_postgres_immediately(down_for: float) -> datetime:
    pid = _pid_of(postgres_data_dir() / "postmaster.pid", "postgres")
    os.kill(pid, signal.SIGQUIT)
    _wait_gone(pid)
    time.sleep(down_for)
    _script("postgres.sh", "start")
    return now()
