"""The real infrastructure for integration tests: started by the project's own scripts.

If Kafka or PostgreSQL cannot be started, the fixture FAILS with the script's output; it
never skips, because a silently skipped integration test hides a broken set-up.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import asyncpg
import pytest

from services.common.db import apply_migrations, create_pool

ROOT = Path(__file__).resolve().parents[2]
# The scripts' runtime folder; DEV_DIR (with KAFKA_PORT, KAFKA_CONTROLLER_PORT and PG_PORT)
# lets several independent stacks run side by side on one machine.
DEV = Path(os.environ.get("DEV_DIR", ROOT / ".dev"))


def infra_up() -> subprocess.CompletedProcess[str]:
    """`scripts/infra.sh up` (idempotent); the caller judges the result (the benchmarks too)."""
    return subprocess.run(
        ["bash", str(ROOT / "scripts" / "infra.sh"), "up"],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )


def ensure_infrastructure() -> dict[str, str]:
    """Run `scripts/infra.sh up` (idempotent) and return the services' environment."""
    result = infra_up()
    if result.returncode != 0:
        pytest.fail(
            "Kafka/PostgreSQL could not be started by scripts/infra.sh up:\n"
            f"{result.stdout[-3000:]}\n{result.stderr[-5000:]}",
            pytrace=False,
        )
    return read_env(DEV / "stack.env")


def kafka_script(command: str) -> None:
    """`scripts/kafka.sh start|stop`: the real broker stopped and started, for outage tests."""
    _script("kafka.sh", command, timeout=180)


def postgres_script(command: str) -> None:
    """`scripts/postgres.sh start|stop`: the real PostgreSQL stopped and started."""
    _script("postgres.sh", command, timeout=120)


def _script(name: str, command: str, *, timeout: float) -> None:
    subprocess.run(
        ["bash", str(ROOT / "scripts" / name), command],
        check=True,
        capture_output=True,
        timeout=timeout,
    )


@asynccontextmanager
async def migrated_pool(
    dsn: str, migrations: Path, *, max_size: int = 2
) -> AsyncIterator[asyncpg.Pool]:
    """A pool on a service's database (`dsn`, its role) with its `migrations` applied; closed
    when the block ends. The store contract suites and the stores' integration tests use it."""
    pool = await create_pool(dsn, max_size=max_size)
    try:
        await apply_migrations(pool, migrations)
        yield pool
    finally:
        await pool.close()


def read_env(path: Path) -> dict[str, str]:
    env: dict[str, str] = {}
    for line in path.read_text().splitlines():
        if line and not line.startswith("#") and "=" in line:
            key, value = line.split("=", 1)
            env[key] = value
    return env


def service_env(stack: dict[str, str], **overrides: str) -> dict[str, str]:
    """The process environment for a service subprocess: this one, the stack's, overrides."""
    env = {**os.environ, **stack, **overrides}
    env.pop("INTAKE_LOG_LEVEL", None)
    return env


async def queued_events(pool: asyncpg.Pool, key: str) -> list[tuple[str, str]]:
    """(topic, CloudEvents id) of each outbox row under message `key`, in the order queued."""
    rows = await pool.fetch(
        "SELECT topic, headers FROM outbox WHERE message_key = $1 ORDER BY outbox_id", key
    )
    return [(r["topic"], _headers(r["headers"])["ce_id"]) for r in rows]


def _headers(value: object) -> dict[str, str]:
    parsed = json.loads(value) if isinstance(value, str) else value
    assert isinstance(parsed, dict)
    return {str(k): str(v) for k, v in parsed.items()}
