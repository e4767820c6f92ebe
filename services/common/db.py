"""PostgreSQL through asyncpg: the pool, and versioned SQL migrations per service.

Rules kept here:
- each service owns one schema (its role's search_path) and its migrations live in
  `services/<service>/migrations/NNNN_name.sql`, applied in order, each once, in a transaction;
- the applied versions are recorded in that schema's `schema_migrations` table;
- several replicas starting together are serialised by an advisory lock.
"""

from __future__ import annotations

import json
import re
import zlib
from pathlib import Path
from typing import Any, Final

import asyncpg

# What asyncpg raises while PostgreSQL is down, restarting or unreachable: refused or reset
# connections (OSError), timeouts, a connection closed under a query (InterfaceError), class 08
# (connection exception) and class 57 (operator intervention: shutdown, starting up).
UNAVAILABLE: Final = (
    OSError,
    TimeoutError,
    asyncpg.InterfaceError,
    asyncpg.PostgresConnectionError,
    asyncpg.exceptions.OperatorInterventionError,
)

_MIGRATION = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")


async def _init_connection(conn: asyncpg.Connection) -> None:
    # JSONB in and out as Python objects.
    await conn.set_type_codec("jsonb", encoder=json.dumps, decoder=json.loads, schema="pg_catalog")


# How long one connection attempt may take, start-up handshake included. asyncpg's default is
# 60 s: a server that accepts TCP but does not answer (still starting, overloaded, a half-dead
# host) then held each request, and each pool slot being re-made, for a minute before anyone
# was told; with this, a request waits at most this long before it is answered 503.
CONNECT_TIMEOUT_SECONDS: Final = 5.0


async def _keep_session(conn: asyncpg.Connection) -> None:
    """Release a connection to the pool without asyncpg's reset query.

    asyncpg's default sends `pg_advisory_unlock_all(); CLOSE ALL; UNLISTEN *; RESET ALL` on every
    release: a round trip per acquire, which was 8-9% of intake's CPU under load (issue 16). The
    pool still rolls back an open transaction and drops the connection's listeners before this
    runs (`Connection._reset`). No pooled connection keeps session state here: no service runs
    `SET`, cursors live in transactions (asyncpg requires it), the migration
    lock is released in a `finally`, and the notification listener UNLISTENs before release.
    """


async def create_pool(
    dsn: str,
    *,
    min_size: int = 1,
    max_size: int = 10,
    connect_timeout: float = CONNECT_TIMEOUT_SECONDS,
) -> asyncpg.Pool:
    """A pool whose connections encode JSONB; raises if the database cannot be reached.

    A connection found closed (the server restarted) is re-made on its next acquire, so a
    restart costs no more than the requests that were in flight.
    """
    pool = await asyncpg.create_pool(
        dsn,
        min_size=min_size,
        max_size=max_size,
        init=_init_connection,
        reset=_keep_session,
        command_timeout=30,
        timeout=connect_timeout,
    )
    if pool is None:  # pragma: no cover - asyncpg returns None only when not awaited
        raise RuntimeError("asyncpg returned no pool")
    return pool


def migration_files(directory: Path) -> list[tuple[int, Path]]:
    found = []
    for path in sorted(directory.glob("*.sql")):
        match = _MIGRATION.match(path.name)
        if not match:
            raise ValueError(f"migration file name {path.name!r} is not NNNN_name.sql")
        found.append((int(match.group(1)), path))
    versions = [v for v, _ in found]
    if len(set(versions)) != len(versions):
        raise ValueError(f"duplicate migration versions in {directory}")
    return found


async def apply_migrations(pool: asyncpg.Pool, directory: Path) -> list[int]:
    """Apply the migrations not yet applied; returns the versions applied now."""
    applied_now: list[int] = []
    async with pool.acquire() as conn:
        lock_key = zlib.crc32(str(directory.name + directory.parent.name).encode()) & 0x7FFFFFFF
        await conn.execute("SELECT pg_advisory_lock($1)", lock_key)
        try:
            await conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations ("
                " version int PRIMARY KEY, name text NOT NULL,"
                " applied_at timestamptz NOT NULL DEFAULT now())"
            )
            done = {r["version"] for r in await conn.fetch("SELECT version FROM schema_migrations")}
            for version, path in migration_files(directory):
                if version in done:
                    continue
                async with conn.transaction():
                    await conn.execute(path.read_text())
                    await conn.execute(
                        "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)",
                        version,
                        path.name,
                    )
                applied_now.append(version)
        finally:
            await conn.execute("SELECT pg_advisory_unlock($1)", lock_key)
    return applied_now


async def ping(pool: asyncpg.Pool) -> bool:
    try:
        async with pool.acquire(timeout=2) as conn:
            value: Any = await conn.fetchval("SELECT 1")
            return bool(value == 1)
    except (*UNAVAILABLE, asyncpg.PostgresError):
        return False
