"""The one way tests run the project's command line: `python -m <module> <args>` from the repo.

Rules kept here: the command runs from the repository root with this interpreter and the
environment given (the stack's, from `infra.service_env`, for commands that reach Kafka or
PostgreSQL); it never hangs a test (a timeout); `cli_output` fails the test with the command's
stderr when it exits non-zero, `run_cli` leaves the exit status to the test.
"""

from __future__ import annotations

import subprocess
import sys

from tests.support.infra import ROOT


def run_cli_bytes(
    module: str,
    *args: str,
    env: dict[str, str] | None = None,
    stdin: bytes | None = None,
    timeout: float = 120.0,
) -> subprocess.CompletedProcess[bytes]:
    """Run `python -m module args`, bytes in and out; the exit status is the caller's to judge."""
    return subprocess.run(
        [sys.executable, "-m", module, *args],
        input=stdin,
        cwd=ROOT,
        env=env,
        capture_output=True,
        timeout=timeout,
        check=False,
    )


def run_cli(
    module: str,
    *args: str,
    env: dict[str, str] | None = None,
    stdin: str | None = None,
    timeout: float = 120.0,
) -> subprocess.CompletedProcess[str]:
    """`run_cli_bytes` as text (UTF-8, newlines made `\\n`, as `subprocess.run(text=True)`)."""
    done = run_cli_bytes(
        module, *args, env=env, stdin=None if stdin is None else stdin.encode(), timeout=timeout
    )
    return subprocess.CompletedProcess(
        done.args, done.returncode, _text(done.stdout), _text(done.stderr)
    )


def _text(data: bytes) -> str:
    return data.decode().replace("\r\n", "\n").replace("\r", "\n")


def cli_output(
    module: str, *args: str, env: dict[str, str] | None = None, timeout: float = 120.0
) -> str:
    """Run the command; its stdout, or the test fails with its exit status and stderr."""
    done = run_cli(module, *args, env=env, timeout=timeout)
    assert done.returncode == 0, (
        f"python -m {module} {args[0] if args else ''} exited {done.returncode}:\n"
        f"{done.stderr[-2000:]}"
    )
    return done.stdout
