"""Service processes for integration tests (and the benchmarks): start, wait until ready, stop
or kill; `service` runs one of the project's services for the length of a `with` block."""

from __future__ import annotations

import contextlib
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Self

import httpx

from tests.support.infra import ROOT, service_env


class ServiceProcess:
    """One `python -m <module> ...` process with its log in a file."""

    def __init__(
        self, name: str, args: list[str], env: dict[str, str], port: int, log_dir: Path
    ) -> None:
        self.name = name
        self.args = args
        self.env = env
        self.port = port
        self.log_path = log_dir / f"{name}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Self:
        with self.log_path.open("ab") as log:  # the child keeps its own copy of the handle
            self.proc = subprocess.Popen(
                [sys.executable, "-m", *self.args],
                cwd=ROOT,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        return self

    def wait_ready(
        self, path: str = "/readyz", timeout: float = 90.0, interval: float = 0.3
    ) -> Self:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(
                    f"{self.name} exited with {self.proc.returncode}:\n{self.tail()}"
                )
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(self.url + path, timeout=2).status_code == 200:
                    return self
            time.sleep(interval)
        raise RuntimeError(
            f"{self.name} not ready on {self.url}{path} in {timeout} s:\n{self.tail()}"
        )

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 20.0) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(sig)
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)

    def kill(self) -> None:
        """SIGKILL: no graceful shutdown, as in a crash."""
        self.stop(signal.SIGKILL)

    def tail(self, lines: int = 40) -> str:
        if not self.log_path.exists():
            return "(no log)"
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def pid_of(process: ServiceProcess) -> int:
    assert process.proc is not None
    return process.proc.pid


# service name -> (its module, the variable naming its HTTP port)
SERVICES = {
    "intake": ("services.intake", "INTAKE_HTTP_PORT"),
    "router": ("services.router", "ROUTER_HTTP_PORT"),
    "gateway": ("services.provider_gateway", "GATEWAY_HTTP_PORT"),
}


@contextmanager
def service(
    name: str,
    stack: dict[str, str],
    log_dir: Path,
    *,
    ready: str = "/readyz",
    timeout: float = 90.0,
    **overrides: str,
) -> Iterator[ServiceProcess]:
    """`python -m services.<name> serve` on a free port, ready (`ready` answers 200) on entry,
    stopped on exit. Its consumer groups are the service's own: nothing else may run them."""
    module, port_variable = SERVICES[name]
    port = free_port()
    env = service_env(stack, **{port_variable: str(port)}, **overrides)
    process = ServiceProcess(name, [module, "serve"], env, port, log_dir)
    try:
        process.start().wait_ready(ready, timeout=timeout)
        yield process
    finally:
        process.stop()
