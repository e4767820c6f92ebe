"""The key vault in PostgreSQL: `keyvault.data_keys`, one wrapped data key per referral.

Rules kept here:
- the table (created by intake's migration 0004; schema and grants by scripts/postgres.sh):
  `keyvault.data_keys(referral_id uuid PRIMARY KEY, kek_version text NOT NULL,
  wrapped_key bytea NULL, created_at timestamptz NOT NULL, destroyed_at timestamptz NULL)`;
- intake creates and destroys keys, the gateway only reads them; the router and ops have no
  grant on the schema at all;
- a key is stored once (a second store for the same referral changes nothing), inside the
  caller's transaction, so a referral row never exists without its key and vice versa;
- destroying sets `wrapped_key` NULL and `destroyed_at`: the row stays, so "destroyed" is told
  apart from "never existed", and every sealed copy anywhere (Kafka segments, rows, backups)
  becomes unreadable. Destroying twice destroys nothing more. PostgreSQL keeps the old row
  version (with the wrapped key) as a dead tuple until the table is vacuumed, and in pg_wal
  until the segment is recycled: both still need the KEK to open, and an erasure that must be
  complete on disk runs `VACUUM keyvault.data_keys` after it (outside a transaction).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol
from uuid import UUID

from services.common.sealing.errors import DataKeyDestroyed, DataKeyNotFound
from services.common.sealing.keys import (
    DataKey,
    KeyEncryptionKey,
    WrappedKey,
    open_data_key,
)


class Executor(Protocol):
    """An asyncpg connection or pool (anything with fetchrow and execute)."""

    async def fetchrow(self, query: str, *args: Any) -> Any: ...

    async def execute(self, query: str, *args: Any) -> str: ...


async def store_data_key(conn: Executor, key: WrappedKey, created_at: datetime) -> bool:
    """Store a wrapped key; False (nothing changed) if the referral already has one."""
    done = await conn.execute(
        "INSERT INTO keyvault.data_keys (referral_id, kek_version, wrapped_key, created_at)"
        " VALUES ($1, $2, $3, $4) ON CONFLICT (referral_id) DO NOTHING",
        key.referral_id,
        key.kek_version,
        key.wrapped,
        created_at,
    )
    return done.endswith(" 1")


async def load_wrapped_key(conn: Executor, referral_id: UUID) -> WrappedKey:
    """The stored key; DataKeyNotFound or DataKeyDestroyed when there is none to open."""
    row = await conn.fetchrow(
        "SELECT kek_version, wrapped_key FROM keyvault.data_keys WHERE referral_id = $1",
        referral_id,
    )
    if row is None:
        raise DataKeyNotFound(referral_id)
    if row["wrapped_key"] is None:
        raise DataKeyDestroyed(referral_id)
    return WrappedKey(referral_id, row["kek_version"], bytes(row["wrapped_key"]))


async def load_data_key(conn: Executor, referral_id: UUID, kek: KeyEncryptionKey) -> DataKey:
    """The referral's open data key (see `load_wrapped_key` for the errors)."""
    return open_data_key(await load_wrapped_key(conn, referral_id), kek)


async def destroy(conn: Executor, referral_id: UUID, at: datetime | None = None) -> bool:
    """Destroy the referral's data key; True if it was destroyed now, False if it was already
    destroyed or never existed."""
    done = await conn.execute(
        "UPDATE keyvault.data_keys SET wrapped_key = NULL,"
        " destroyed_at = COALESCE($2, now()) WHERE referral_id = $1 AND destroyed_at IS NULL",
        referral_id,
        at,
    )
    return done.endswith(" 1")
