"""What every benchmark stage stands on: the infrastructure, service processes and Kafka helpers.

Rules kept here:
- the infrastructure is started by the project's own `scripts/infra.sh up` (DEV_DIR, KAFKA_PORT,
  PG_PORT... honoured), and the services' environment is read from `$DEV_DIR/stack.env`;
- a service runs as its real command (`python -m services.<name> serve`) on a free loopback port,
  its log in the bench's log folder (`$DEV_DIR/bench/logs`), and is stopped with SIGTERM;
- a stage that drains a backlog first moves the service's consumer group to the end of its
  topic (`skip_to_end`), so it measures its own messages and not what earlier stages left.
The tests have their own copy of the process code (tests/support/processes.py): a benchmark does
not import the tests, and the tests are being changed by others while this is written.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from services.common.kafka_security import KafkaSecurity

ROOT = Path(__file__).resolve().parents[1]
DEV = Path(os.environ.get("DEV_DIR", ROOT / ".dev"))
OUT = DEV / "bench"
LOGS = OUT / "logs"


def ensure_infrastructure() -> dict[str, str]:
    """`scripts/infra.sh up`, then the stack's environment from `$DEV_DIR/stack.env`."""
    done = subprocess.run(
        ["bash", str(ROOT / "scripts" / "infra.sh"), "up"],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    if done.returncode != 0:
        sys.exit(f"scripts/infra.sh up failed:\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}")
    env: dict[str, str] = {}
    for line in (DEV / "stack.env").read_text().splitlines():
        if line and not line.startswith("#") and "=" in line:
            key, value = line.split("=", 1)
            env[key] = value
    return env


def connection() -> dict[str, Any]:
    """aiokafka keyword arguments (TLS, SCRAM) of the `tooling` principal, from the stack's env:
    the bench's own clients connect to the secured broker like the tests' do."""
    env: dict[str, str] = {}
    for line in (DEV / "stack.env").read_text().splitlines():
        if line and not line.startswith("#") and "=" in line:
            key, value = line.split("=", 1)
            env[key] = value
    return KafkaSecurity.from_env(environ=env).aiokafka_kwargs()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def service_env(stack: dict[str, str], **overrides: str) -> dict[str, str]:
    """This process's environment, the stack's, then the overrides (quiet logs, no tracing)."""
    return {**os.environ, **stack, "OTEL_TRACES_EXPORTER": "none", **overrides}


class Service:
    """One `python -m <module> ...` process with its log in the bench's log folder."""

    def __init__(self, name: str, args: list[str], env: dict[str, str], port: int) -> None:
        self.name, self.args, self.env, self.port = name, args, env, port
        self.proc: subprocess.Popen[bytes] | None = None
        self.started = 0.0  # time.monotonic() when the process was spawned

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Service:
        LOGS.mkdir(parents=True, exist_ok=True)
        with (LOGS / f"{self.name}.log").open("ab") as log:
            self.started = time.monotonic()
            self.proc = subprocess.Popen(
                [sys.executable, "-m", *self.args],
                cwd=ROOT,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        return self

    def wait_ready(self, path: str = "/readyz", timeout: float = 90.0) -> Service:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                sys.exit(f"{self.name} exited with {self.proc.returncode}; see {LOGS}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(self.url + path, timeout=2).status_code == 200:
                    return self
            time.sleep(0.1)
        sys.exit(f"{self.name} not ready on {self.url}{path} in {timeout} s; see {LOGS}")

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid


def provision_agency(env: dict[str, str], agency: str, token: str) -> None:
    """The agency and its API key, through intake's own commands (idempotent for the agency)."""
    for args in (
        ["agency-add", agency, "Benchmark agency"],
        ["key-create", agency, "--label", "bench", f"--token={token}"],
    ):
        subprocess.run(
            [sys.executable, "-m", "services.intake", *args],
            env=env,
            cwd=ROOT,
            check=True,
            capture_output=True,
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
