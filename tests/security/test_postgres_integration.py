"""The real PostgreSQL, as `scripts/postgres.sh` runs it: each service's role reaches its own
schema only, passwords are stored as SCRAM-SHA-256, and the only way in over TCP is SCRAM from
127.0.0.1 to the referrals database as a service role (no trust, no md5, no superuser)."""

from __future__ import annotations

import subprocess
from itertools import permutations
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest

from tests.support.infra import ROOT

pytestmark = pytest.mark.integration

SERVICES = ("intake", "router", "gateway")


def superuser_query(sql: str) -> list[list[str]]:
    """Rows of `sql`, run as the superuser over the private unix socket (the scripts' way in)."""
    done = subprocess.run(
        ["bash", str(ROOT / "scripts" / "postgres.sh"), "psql", "-d", "referrals", "-XAt", "-F|"],
        input=sql,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return [line.split("|") for line in done.stdout.splitlines() if line]


def dsn(stack_env: dict[str, str], service: str) -> str:
    return stack_env[f"{service.upper()}_DATABASE_URL"]


@pytest.mark.parametrize(("role", "other"), list(permutations(SERVICES, 2)))
async def test_a_service_role_cannot_touch_another_services_schema(
    stack_env: dict[str, str], role: str, other: str
) -> None:
    conn = await asyncpg.connect(dsn(stack_env, role), timeout=10)
    try:
        await conn.execute(f"CREATE TABLE IF NOT EXISTS {role}.security_probe (n int)")
        with pytest.raises(asyncpg.InsufficientPrivilegeError, match=f"schema {other}"):
            await conn.execute(f"CREATE TABLE {other}.security_probe (n int)")
        with pytest.raises(asyncpg.InsufficientPrivilegeError, match=f"schema {other}"):
            await conn.fetch(f"SELECT * FROM {other}.schema_migrations")
        with pytest.raises(asyncpg.InsufficientPrivilegeError, match=f"schema {other}"):
            await conn.execute(f"INSERT INTO {other}.security_probe VALUES (1)")
    finally:
        await conn.execute(f"DROP TABLE IF EXISTS {role}.security_probe")
        await conn.close()


def test_passwords_are_stored_as_scram_and_sent_as_scram() -> None:
    rows = superuser_query(
        "SELECT rolname, left(rolpassword, 14) FROM pg_authid "
        "WHERE rolname LIKE 'referrals\\_%' ORDER BY 1;\n"
        "SHOW password_encryption;\n"
    )
    *roles, [encryption] = rows
    assert {name for name, _ in roles} >= {f"referrals_{s}" for s in SERVICES}
    assert all(stored == "SCRAM-SHA-256$" for _, stored in roles), roles
    assert encryption == "scram-sha-256"


def test_only_scram_from_loopback_and_the_superuser_on_the_socket_get_in() -> None:
    rules = superuser_query(
        "SELECT type, array_to_string(database, ','), array_to_string(user_name, ','), "
        "coalesce(address, ''), auth_method FROM pg_hba_file_rules;\n"
        "SHOW listen_addresses;\n"
    )
    *hba, [listen] = rules
    assert listen == "127.0.0.1"
    for kind, database, users, address, method in hba:
        if kind == "local":
            assert (users, method) == ("postgres", "trust")  # the 0700 socket directory only
        else:
            assert (kind, database, address, method) == (
                "host",
                "referrals",
                "127.0.0.1",
                "scram-sha-256",
            )
            assert "postgres" not in users.split(",")


async def test_logins_without_the_right_password_are_refused(stack_env: dict[str, str]) -> None:
    parts = urlsplit(dsn(stack_env, "router"))
    host_port = parts.netloc.rsplit("@", 1)[1]

    def as_user(user: str, password: str, database: str = "referrals") -> str:
        return urlunsplit(parts._replace(netloc=f"{user}:{password}@{host_port}", path=database))

    with pytest.raises(asyncpg.InvalidPasswordError):  # SCRAM checks the password
        await asyncpg.connect(as_user("referrals_router", "not-the-password"), timeout=10)
    # What trust would let in (the superuser, any password) has no TCP rule at all; nor has a
    # service role connecting to another database.
    with pytest.raises(
        asyncpg.InvalidAuthorizationSpecificationError, match=r"no pg_hba\.conf entry"
    ):
        await asyncpg.connect(as_user("postgres", "anything"), timeout=10)
    router_password = parts.password or ""
    with pytest.raises(
        asyncpg.InvalidAuthorizationSpecificationError, match=r"no pg_hba\.conf entry"
    ):
        await asyncpg.connect(as_user("referrals_router", router_password, "postgres"), timeout=10)
