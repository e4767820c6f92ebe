"""The router killed after Kafka acknowledged its relay's batch and before the relay marked the
batch sent: the window the relay's recovery at start closes (services/common/outbox_recovery.py).

How the kill is made to land in that window: a trigger the test adds to the router's outbox makes
the relay's mark wait for an advisory lock the test holds (a fault injected into the real
database; nothing is faked). Once the relay waits there, its whole batch is on Kafka. The test
kills the router (SIGKILL), releases the lock, drops the trigger and starts the router again.

Rule shown: a decision Kafka already holds is not published again. Before the recovery, every
decision of the batch in flight went out a second time (up to RELAY_BATCH / 2, 100, under the
same `ce_id`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator

import asyncpg
import pytest

from shared.topics import REFERRALS_DECIDED
from tests.router.conftest import MakeReceived
from tests.router.router_kafka import published_ids, read_decisions, send_all_received, stored
from tests.support.kafka import end_offsets, read_since
from tests.support.processes import ServiceProcess
from tests.support.report import report
from tests.support.wait import eventually_async

pytestmark = pytest.mark.integration

LOCK = 734_001  # the advisory lock the relay's mark waits for while the test holds it
HOLD = f"""
CREATE OR REPLACE FUNCTION test_hold_outbox_mark() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_advisory_xact_lock({LOCK});
    RETURN NEW;
END
$$;
CREATE TRIGGER test_hold_outbox_mark BEFORE UPDATE OF sent_at ON outbox
    FOR EACH ROW EXECUTE FUNCTION test_hold_outbox_mark();
"""
RELEASE = "DROP TRIGGER IF EXISTS test_hold_outbox_mark ON outbox"


@pytest.fixture
async def held_marks(stack_env: dict[str, str]) -> AsyncIterator[asyncpg.Connection]:
    """Until released, the relay's marks wait (its batch acknowledged, its transaction open)."""
    conn = await asyncpg.connect(stack_env["ROUTER_DATABASE_URL"])
    try:
        await conn.execute("SELECT pg_advisory_lock($1)", LOCK)
        await conn.execute(HOLD)
        yield conn
    finally:
        await conn.execute("SELECT pg_advisory_unlock_all()")  # first: the drop waits for it
        await conn.execute(RELEASE)
        await conn.close()


async def relay_waits_on_its_mark(conn: asyncpg.Connection) -> int | None:
    """How many backends wait for the held lock (None: none yet)."""
    waiting: int = await conn.fetchval(
        "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
        " AND wait_event = 'advisory' AND datname = current_database()"
    )
    return waiting or None


async def test_decisions_on_kafka_when_the_router_was_killed_are_not_published_again(
    router: ServiceProcess,
    stack_env: dict[str, str],
    make_received: MakeReceived,
    held_marks: asyncpg.Connection,
) -> None:
    bootstrap, dsn = stack_env["KAFKA_BOOTSTRAP_SERVERS"], stack_env["ROUTER_DATABASE_URL"]
    referrals = [make_received() for _ in range(150)]
    ids = [r.referral_id for r in referrals]
    expected = {str(i) for i in ids}
    before = await end_offsets(bootstrap, (REFERRALS_DECIDED,))
    await send_all_received(bootstrap, referrals)

    waiting: int = await eventually_async(
        lambda: relay_waits_on_its_mark(held_marks), "the relay's mark waits", timeout=60
    )
    router.kill()
    on_kafka = {
        key
        for m in await read_since(bootstrap, before)
        if m.key is not None and (key := m.key.decode()) in expected
    }
    in_flight = on_kafka - await published_ids(dsn, ids)
    assert in_flight, f"no decision was acknowledged and unmarked at the kill\n{router.tail()}"
    await held_marks.execute("SELECT pg_advisory_unlock_all()")
    await held_marks.execute(RELEASE)

    router.start().wait_ready("/readyz", timeout=90)
    records = await read_decisions(bootstrap, expected, settle=5.0)
    copies = Counter(r.key for r in records)
    assert set(copies) == expected, router.tail()
    twice = {key for key, n in copies.items() if n > 1}
    report(
        f"router-recovery: {len(in_flight)} decisions on Kafka and unmarked at the kill"
        f" ({waiting} relay transaction held at its mark);"
        f" {len(twice)} published again after the restart"
    )
    assert not twice, f"{len(twice)} decisions Kafka already held were published again"
    assert await stored(dsn, ids) == (len(ids), len(ids))
