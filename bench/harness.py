"""What every benchmark stage stands on: the infrastructure, service processes and Kafka helpers.

Rules kept here:
- the infrastructure is started by the project's own `scripts/infra.sh up` (DEV_DIR, KAFKA_PORT,
  PG_PORT... honoured), and the services' environment is read from `$DEV_DIR/stack.env`;
- a service runs as its real command (`python -m services.<name> serve`) on a free loopback port,
  its log in the bench's log folder (`$DEV_DIR/bench/logs`), and is stopped with SIGTERM;
- a stage that drains a backlog first moves the service's consumer group to the end of its
  topic (`skip_to_end`), so it measures its own messages and not what earlier stages left.
The process, infrastructure and command-line code is the tests' own (tests/support: processes.py,
infra.py, cli.py, kafka.py), one copy for both; a benchmark only exits where a test would fail.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from tests.support.cli import cli_output
from tests.support.infra import infra_up, read_env
from tests.support.kafka import connection
from tests.support.processes import ServiceProcess, free_port

__all__ = ["connection", "free_port"]  # the bench's other modules import them from here

ROOT = Path(__file__).resolve().parents[1]
DEV = Path(os.environ.get("DEV_DIR", ROOT / ".dev"))
OUT = DEV / "bench"
LOGS = OUT / "logs"


def ensure_infrastructure() -> dict[str, str]:
    """`scripts/infra.sh up`, then the stack's environment from `$DEV_DIR/stack.env`."""
    done = infra_up()
    if done.returncode != 0:
        sys.exit(f"scripts/infra.sh up failed:\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}")
    return read_env(DEV / "stack.env")


def service_env(stack: dict[str, str], **overrides: str) -> dict[str, str]:
    """This process's environment, the stack's, then the overrides (quiet logs, no tracing)."""
    return {**os.environ, **stack, "OTEL_TRACES_EXPORTER": "none", **overrides}


class Service(ServiceProcess):
    """One `python -m <module> ...` process with its log in the bench's log folder."""

    def __init__(self, name: str, args: list[str], env: dict[str, str], port: int) -> None:
        LOGS.mkdir(parents=True, exist_ok=True)
        super().__init__(name, args, env, port, LOGS)
        self.started = 0.0  # time.monotonic() when the process was spawned

    def start(self) -> Service:
        self.started = time.monotonic()
        super().start()
        return self

    def wait_ready(
        self, path: str = "/readyz", timeout: float = 90.0, interval: float = 0.1
    ) -> Service:
        try:
            super().wait_ready(path, timeout, interval)
        except RuntimeError as exc:
            sys.exit(f"{exc}\n(logs in {LOGS})")
        return self

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30.0) -> None:
        super().stop(sig, timeout)

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid


def provision_agency(env: dict[str, str], agency: str, token: str) -> None:
    """The agency and its API key, through intake's own commands (idempotent for the agency)."""
    cli_output("services.intake", "agency-add", agency, "Benchmark agency", env=env, timeout=60)
    cli_output(
        "services.intake",
        "key-create",
        agency,
        "--label",
        "bench",
        f"--token={token}",
        env=env,
        timeout=60,
    )


async def ensure_topic(bootstrap: str, topic: str, partitions: int = 3) -> None:
    """A bench-only topic (the broker does not create topics by itself)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, **connection())
    await admin.start()
    try:
        if topic not in await admin.list_topics():
            await admin.create_topics([NewTopic(topic, partitions, 1)])
    finally:
        await admin.close()


async def skip_to_end(bootstrap: str, group: str, topic: str) -> None:
    """Commit the end of `topic` for `group` (its members must be stopped)."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False, **connection()
    )
    await consumer.start()
    try:
        from bench.kafka_tools import partitions

        parts = await partitions(consumer, topic)
        ends = await consumer.end_offsets(parts)
        consumer.assign(parts)
        await consumer.commit(dict(ends.items()))
    finally:
        await consumer.stop()


@contextlib.contextmanager
def profiled(service: Service, name: str, seconds: int) -> Iterator[None]:
    """A py-spy flame graph of `service` for `seconds` while the block runs, written to
    `$BENCH_PROFILE_DIR/<name>.svg`; nothing when that variable is unset (py-spy needs ptrace:
    root, or kernel.yama.ptrace_scope=0). `--nonblocking` so the service is never paused."""
    folder = os.environ.get("BENCH_PROFILE_DIR")
    spy = None
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        spy = subprocess.Popen(
            [
                str(Path(sys.executable).parent / "py-spy"),
                "record",
                "--nonblocking",
                "--pid",
                str(service.pid),
                "--duration",
                str(seconds),
                "--rate",
                "50",
                "--output",
                str(Path(folder) / f"{name}.svg"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
    try:
        yield
    finally:
        if spy is not None:
            spy.wait(timeout=seconds + 60)
