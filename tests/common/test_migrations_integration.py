"""Versioned SQL migrations against the real PostgreSQL: applied once, in order, recorded."""

from __future__ import annotations

from pathlib import Path

import asyncpg
import pytest

from services.common.db import apply_migrations, create_pool, migration_files

pytestmark = pytest.mark.integration


def test_migration_files_must_be_numbered(tmp_path: Path) -> None:
    (tmp_path / "first.sql").write_text("SELECT 1")
    with pytest.raises(ValueError, match=r"NNNN_name\.sql"):
        migration_files(tmp_path)


async def test_migrations_apply_once_in_order(stack_env: dict[str, str], tmp_path: Path) -> None:
    table = f"m_{tmp_path.name[-8:].replace('-', '_').lower()}"
    folder = tmp_path / "migrations"
    folder.mkdir()
    # Versions far above the service's own, which share the schema_migrations table.
    (folder / "9001_create.sql").write_text(f"CREATE TABLE {table} (v int)")
    (folder / "9002_insert.sql").write_text(f"INSERT INTO {table} VALUES (2)")
    pool = await create_pool(stack_env["INTAKE_DATABASE_URL"])
    try:
        first = await apply_migrations(pool, folder)
        again = await apply_migrations(pool, folder)
        assert first == [9001, 9002]
        assert again == []
        assert await pool.fetchval(f"SELECT count(*) FROM {table}") == 1
    finally:
        async with pool.acquire() as conn:
            await conn.execute(f"DROP TABLE IF EXISTS {table}")
            await conn.execute("DELETE FROM schema_migrations WHERE version IN (9001, 9002)")
        await pool.close()


async def test_a_failing_migration_leaves_nothing_half_applied(
    stack_env: dict[str, str], tmp_path: Path
) -> None:
    folder = tmp_path / "migrations"
    folder.mkdir()
    (folder / "9101_broken.sql").write_text(
        "CREATE TABLE half_applied_x (v int); SELECT nonsense_fn();"
    )
    pool = await create_pool(stack_env["INTAKE_DATABASE_URL"])
    try:
        with pytest.raises(asyncpg.PostgresError):
            await apply_migrations(pool, folder)
        assert await pool.fetchval("SELECT to_regclass('half_applied_x')") is None
        assert (
            await pool.fetchval("SELECT count(*) FROM schema_migrations WHERE version = 9101") == 0
        )
    finally:
        await pool.close()
