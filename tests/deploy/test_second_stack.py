"""One set of variables runs a second stack beside the first (README, "Running a second stack").

The scripts are run as a user would run them, with a private DEV_DIR: `stack_env.sh` must
write the exported ports into stack.env, and `stack.sh` must use them, even when an older
stack.env written with other ports is already there.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.support.infra import ROOT, read_env

PORT_VARIABLES = (
    "KAFKA_PORT",
    "KAFKA_CONTROLLER_PORT",
    "PG_PORT",
    "INTAKE_HTTP_PORT",
    "ROUTER_HTTP_PORT",
    "GATEWAY_HTTP_PORT",
    "RECEIVER_PORT",
    "INTAKE_PORT",
    "ROUTER_PORT",
    "GATEWAY_PORT",
)
SECOND = {
    "KAFKA_PORT": "19092",
    "KAFKA_CONTROLLER_PORT": "19093",
    "PG_PORT": "15432",
    "INTAKE_HTTP_PORT": "18001",
    "ROUTER_HTTP_PORT": "18002",
    "GATEWAY_HTTP_PORT": "18003",
    "RECEIVER_PORT": "18090",
}


def _run(
    script: str, dev_dir: Path, *args: str, **variables: str
) -> subprocess.CompletedProcess[str]:
    # The caller's own port variables (a helper's private stack) must not leak in.
    env = {k: v for k, v in os.environ.items() if k not in PORT_VARIABLES}
    env.update(DEV_DIR=str(dev_dir), **variables)
    return subprocess.run(
        ["bash", str(ROOT / "scripts" / script), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture(scope="module")
def secrets(tmp_path_factory: pytest.TempPathFactory) -> str:
    """One generated secrets.env for the module: generating secrets is the slow part."""
    template = tmp_path_factory.mktemp("secrets")
    result = _run("secrets.sh", template)
    assert result.returncode == 0, result.stderr
    return (template / "secrets.env").read_text()


@pytest.fixture
def tmp_path(tmp_path: Path, secrets: str) -> Path:
    """A fresh DEV_DIR holding the module's secrets (the scripts keep existing values)."""
    (tmp_path / "secrets.env").write_text(secrets)
    (tmp_path / "secrets.env").chmod(0o600)
    return tmp_path


def test_stack_env_writes_the_documented_ports_of_a_second_stack(tmp_path: Path) -> None:
    result = _run("stack_env.sh", tmp_path, **SECOND)
    assert result.returncode == 0, result.stderr
    env = read_env(tmp_path / "stack.env")
    assert env["KAFKA_BOOTSTRAP_SERVERS"] == "127.0.0.1:19092"
    for service in ("INTAKE", "ROUTER", "GATEWAY"):
        assert "@127.0.0.1:15432/" in env[f"{service}_DATABASE_URL"]
    assert env["INTAKE_HTTP_PORT"] == "18001"
    assert env["ROUTER_HTTP_PORT"] == "18002"
    assert env["GATEWAY_HTTP_PORT"] == "18003"
    assert env["RECEIVER_PORT"] == "18090"
    for provider in ("NWA", "JUNO", "EQUATION"):
        url = env[f"GATEWAY_{provider}_WEBHOOK_URL"]
        assert url.startswith("http://127.0.0.1:18090/webhooks/"), url


def test_stack_sh_uses_the_exported_ports_even_over_an_older_stack_env(tmp_path: Path) -> None:
    first = _run("stack_env.sh", tmp_path)  # the defaults: 8001, 8002, 8003, 8090
    assert first.returncode == 0, first.stderr
    status = _run("stack.sh", tmp_path, "status", **SECOND)
    assert status.returncode == 0, status.stderr
    assert status.stdout.splitlines() == [
        "demo_receiver: stopped (port 18090)",
        "intake: stopped (port 18001)",
        "router: stopped (port 18002)",
        "provider_gateway: stopped (port 18003)",
    ]
    assert read_env(tmp_path / "stack.env")["INTAKE_HTTP_PORT"] == "18001"


def test_the_old_port_names_still_work_as_aliases(tmp_path: Path) -> None:
    result = _run(
        "stack_env.sh", tmp_path, INTAKE_PORT="28001", ROUTER_PORT="28002", GATEWAY_PORT="28003"
    )
    assert result.returncode == 0, result.stderr
    env = read_env(tmp_path / "stack.env")
    assert (env["INTAKE_HTTP_PORT"], env["ROUTER_HTTP_PORT"], env["GATEWAY_HTTP_PORT"]) == (
        "28001",
        "28002",
        "28003",
    )


@pytest.mark.parametrize(
    ("variables", "named"),
    [
        ({"INTAKE_HTTP_PORT": "18001", "INTAKE_PORT": "28001"}, "INTAKE_HTTP_PORT=18001"),
        ({"ROUTER_HTTP_PORT": "eighty"}, "ROUTER_HTTP_PORT must be a TCP port number"),
        ({"RECEIVER_PORT": "70000"}, "RECEIVER_PORT must be a TCP port number"),
    ],
)
def test_a_bad_or_contradictory_port_is_refused_naming_the_variable(
    tmp_path: Path, variables: dict[str, str], named: str
) -> None:
    result = _run("stack_env.sh", tmp_path, **variables)
    assert result.returncode != 0
    assert named in result.stderr
    assert not (tmp_path / "stack.env").exists()
