"""The router's outbox as a real process on the real Kafka broker and PostgreSQL.

Rules shown here (handlers.py, adapters/store.py, bootstrap.py, services/common/startup.py):
- a received referral delivered twice (a redelivery) makes one decision, one decided event and
  one ops event; its decision and both outbox rows are stored, the rows sent and the decision
  stamped published;
- a decision committed with its outbox rows while no router runs (a crash between the commit and
  the relay) is published when the router starts again, though its referral is never delivered
  again: only the outbox knows about it, and nothing is lost.

The router's consumer group is fixed (`router`); these tests need a stack nobody else consumes
from (see DEV_DIR in tests/support/infra.py). They fail, never skip, without Kafka and PostgreSQL.
"""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import UUID

import asyncpg
import pytest

from services.common.db import create_pool
from services.router.adapters.store import DecisionStore
from services.router.engine import CachedRules, Router
from services.router.handlers import Context, handle_received
from shared.cloudevents import TYPE_DECIDED, TYPE_OPS_EVENT
from shared.topics import OPS_EVENTS, REFERRALS_DECIDED
from tests.router.conftest import FakeDirectory, MakeReceived
from tests.router.router_kafka import send_received
from tests.support.kafka import Record, collect
from tests.support.processes import ServiceProcess

pytestmark = pytest.mark.integration


async def _events(bootstrap: str, topic: str, ce_type: str, rid: str) -> list[Record]:
    """Every event of `ce_type` keyed `rid` on `topic`, read a while after the first arrives."""
    return await collect(
        bootstrap,
        topic,
        lambda r: r.key == rid and r.headers.get("ce_type") == ce_type,
        until=lambda kept: len(kept) >= 1,
        timeout=90,
        settle=4.0,
    )


async def _rows(dsn: str, referral_id: UUID) -> tuple[int, bool, list[tuple[str, bool]]]:
    """(decision rows, decision stamped published, [(outbox topic, sent)]) for one referral."""
    conn = await asyncpg.connect(dsn)
    try:
        decisions = await conn.fetch(
            "SELECT published_at FROM decisions WHERE referral_id = $1", referral_id
        )
        outbox = await conn.fetch(
            "SELECT topic, sent_at FROM outbox WHERE message_key = $1 ORDER BY outbox_id",
            str(referral_id),
        )
    finally:
        await conn.close()
    published = len(decisions) == 1 and decisions[0]["published_at"] is not None
    return len(decisions), published, [(r["topic"], r["sent_at"] is not None) for r in outbox]


async def test_a_referral_delivered_twice_makes_one_decision_one_decided_and_one_ops_event(
    router: ServiceProcess, stack_env: dict[str, str], make_received: MakeReceived
) -> None:
    bootstrap, dsn = stack_env["KAFKA_BOOTSTRAP_SERVERS"], stack_env["ROUTER_DATABASE_URL"]
    referral = make_received()
    rid = str(referral.referral_id)
    await send_received(bootstrap, referral)
    await send_received(bootstrap, referral)  # the same event again, as a redelivery brings it

    decided = await _events(bootstrap, REFERRALS_DECIDED, TYPE_DECIDED, rid)
    ops = await _events(bootstrap, OPS_EVENTS, TYPE_OPS_EVENT, rid)
    assert [r.headers["ce_id"] for r in decided] == [f"decided:{rid}"], router.tail()
    assert [r.headers["ce_id"] for r in ops] == [f"ops:decided:{rid}"], router.tail()
    assert await _rows(dsn, referral.referral_id) == (
        1,
        True,
        [(REFERRALS_DECIDED, True), (OPS_EVENTS, True)],
    )


async def test_a_decision_committed_before_a_crash_is_published_by_the_relay_after_the_restart(
    router: ServiceProcess,
    stack_env: dict[str, str],
    make_received: MakeReceived,
    rules: CachedRules,
    directory: FakeDirectory,
) -> None:
    bootstrap, dsn = stack_env["KAFKA_BOOTSTRAP_SERVERS"], stack_env["ROUTER_DATABASE_URL"]
    router.kill()
    referral = make_received()
    rid = str(referral.referral_id)
    # What the router's subscriber does with a message, up to the commit: the process "dies"
    # right after it (no relay runs), and the referral is never delivered to it again.
    pool = await create_pool(dsn, max_size=1)
    try:
        async with DecisionStore(pool).referral(referral.referral_id) as tx:
            decided = await handle_received(
                tx,
                referral,
                Context(decide=Router(rules, directory), now=lambda: datetime.now(UTC)),
            )
    finally:
        await pool.close()
    assert decided.new
    assert await _rows(dsn, referral.referral_id) == (
        1,
        False,
        [(REFERRALS_DECIDED, False), (OPS_EVENTS, False)],
    )

    router.start().wait_ready("/readyz", timeout=90)
    records = await _events(bootstrap, REFERRALS_DECIDED, TYPE_DECIDED, rid)
    assert [r.headers["ce_id"] for r in records] == [f"decided:{rid}"], router.tail()
    assert records[0].json() == decided.decision.model_dump(mode="json")
    assert await _rows(dsn, referral.referral_id) == (
        1,
        True,
        [(REFERRALS_DECIDED, True), (OPS_EVENTS, True)],
    )
