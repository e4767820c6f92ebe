"""The delivery workers (handlers.worker) on the real PostgreSQL: a claimed batch recorded in ONE
transaction, one failing record not losing the others, concurrent workers never sending one
assignment twice.

Kafka deliveries are planted due in 1999 and the workers' clock stands there, so they claim
this module's deliveries only (other runs' rows are due later); the channel is a recording
`Sender` (what is under test is the claim, the lease and the recording, not the transport).
Each test's rows are deleted after it. FAILS (never skips) without PostgreSQL (`stack_env`).
"""

from __future__ import annotations

import asyncio
import secrets
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from uuid import UUID, uuid4

import asyncpg
import pytest

from services.common.db import apply_migrations, create_pool
from services.common.telemetry import trace_context
from services.provider_gateway.adapters.delivery_store import DeliveryStore, DeliveryTx
from services.provider_gateway.adapters.referral_store import ReferralStore
from services.provider_gateway.bootstrap import MIGRATIONS
from services.provider_gateway.domain import Outcome, RetryPolicy, first_assignment
from services.provider_gateway.handlers.worker import DeliveryWorker
from services.provider_gateway.ports import AttemptResult, Claimed
from tests.provider_gateway.gateway_samples import decision_for, received_event
from tests.provider_gateway.test_gateway_referral_store_contract import forget

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

T = datetime(1999, 1, 1, tzinfo=UTC)
OK = AttemptResult(Outcome.DELIVERED, None, 1.0)


class Recording:
    """The Kafka channel, recording each assignment sent (a moment's wait, so workers overlap)."""

    def __init__(self) -> None:
        self.sent: Counter[str] = Counter()

    async def send(self, delivery: Claimed) -> AttemptResult:
        self.sent[delivery.assignment_id] += 1
        await asyncio.sleep(0.005)
        return OK


class Counting(DeliveryStore):
    """The real store, noting each transaction it opens; `failing`'s record raises (a fault)."""

    def __init__(self, pool: asyncpg.Pool, failing: str | None = None) -> None:
        super().__init__(pool)
        self.opened: list[str] = []
        self._failing = failing

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[DeliveryTx]:
        self.opened.append("transaction")
        async with super().transaction() as tx:
            yield self._sabotaged(tx)

    @asynccontextmanager
    async def batch(self) -> AsyncIterator[DeliveryTx]:
        self.opened.append("batch")
        async with super().batch() as tx:
            yield self._sabotaged(tx)

    def _sabotaged(self, tx: DeliveryTx) -> DeliveryTx:
        finish, failing = tx.finish, self._failing

        async def finish_or_fail(claimed: Claimed, *args: object, **kw: object) -> bool:
            if claimed.assignment_id == failing:
                raise RuntimeError("this row cannot be recorded")
            return await finish(claimed, *args, **kw)  # type: ignore[arg-type]

        tx.finish = finish_or_fail  # type: ignore[method-assign]
        return tx


@dataclass
class Db:
    """Two pools, standing for two gateway instances, and the referrals planted."""

    one: asyncpg.Pool
    two: asyncpg.Pool
    planted: list[UUID] = field(default_factory=list)
    traces: dict[str, str] = field(default_factory=dict)  # referral id -> its trace id


@pytest.fixture
async def db(stack_env: dict[str, str]) -> AsyncIterator[Db]:
    dsn = stack_env["GATEWAY_DATABASE_URL"]
    one, two = await create_pool(dsn, max_size=3), await create_pool(dsn, max_size=3)
    planted: list[UUID] = []
    try:
        await apply_migrations(one, MIGRATIONS)
        # Another run's leftovers of this module (due in 1999) must not be claimed here.
        await one.execute(
            "UPDATE deliveries SET state = 'cancelled' WHERE state = 'pending'"
            " AND next_attempt_at < '2000-01-01'"
        )
        yield Db(one, two, planted)
    finally:
        await forget(one, planted)
        await one.close()
        await two.close()


async def plant(db: Db, count: int) -> dict[str, str]:
    """`count` assignments with a Kafka delivery due at T, each made in its own trace:
    {assignment id: its trace id}."""
    made = {}
    for n in range(count):
        rid, trace_id = uuid4(), secrets.token_hex(16)
        body = first_assignment(received_event(rid), decision_for(rid, "juno"), T)
        assert body is not None
        body = body.model_copy(update={"assigned_at": T - timedelta(milliseconds=n)})
        with trace_context({"traceparent": f"00-{trace_id}-{secrets.token_hex(8)}-01"}):
            async with ReferralStore(db.one).referral(rid) as tx:
                await tx.add_assignment(body, round_no=1, sla_due_at=T, channels=("kafka",))
        db.planted.append(rid)
        db.traces[str(rid)] = trace_id
        made[body.assignment_id] = trace_id
    return made


def worker(store: DeliveryStore, sender: Recording, batch_size: int = 20) -> DeliveryWorker:
    return DeliveryWorker(
        store,
        {"kafka": sender},
        RetryPolicy(),
        now=lambda: T,
        rng=lambda: 0.5,
        webhook_providers=[],
        kafka_ready=lambda: True,
        batch_size=batch_size,
        lease=timedelta(seconds=30),
    )


async def states(pool: asyncpg.Pool, ids: list[str]) -> dict[str, tuple[str, list[str]]]:
    """{assignment id: (its delivery's state, its ledger's outcomes)}."""
    rows = await pool.fetch(
        "SELECT d.assignment_id, d.state, array_agg(t.outcome ORDER BY t.attempt) AS outcomes"
        " FROM deliveries d JOIN delivery_attempts t USING (assignment_id, channel)"
        " WHERE d.assignment_id = ANY($1::text[]) GROUP BY 1, 2",
        ids,
    )
    return {r["assignment_id"]: (r["state"], list(r["outcomes"])) for r in rows}


async def test_a_claimed_batch_is_recorded_in_one_transaction_each_event_in_its_trace(
    db: Db,
) -> None:
    pool = db.one
    made = await plant(db, 6)
    store, sender = Counting(pool), Recording()
    assert await worker(store, sender).step() == 6
    assert store.opened == ["batch"]
    assert await states(pool, list(made)) == {a: ("delivered", ["delivered"]) for a in made}
    # Every ops event of an attempt carries that attempt's trace (the referral's), none other's.
    rows = await pool.fetch(
        "SELECT message_key, headers ->> 'traceparent' AS tp FROM outbox"
        " WHERE message_key = ANY($1::text[]) AND topic = 'ops.events.v1'",
        [str(r) for r in db.planted],
    )
    assert len(rows) >= 12  # assigned, then attempted and delivered, ...
    for row in rows:
        assert row["tp"].split("-")[1] == db.traces[row["message_key"]]


async def test_one_failing_record_does_not_lose_the_others(
    db: Db,
) -> None:
    pool = db.one
    made = list(await plant(db, 5))
    bad = made[2]
    store, sender = Counting(pool, failing=bad), Recording()
    with pytest.raises(RuntimeError, match="cannot be recorded"):
        await worker(store, sender).step()
    found = await states(pool, made)
    assert {a: found[a] for a in made if a != bad} == {
        a: ("delivered", ["delivered"]) for a in made if a != bad
    }
    # Left leased, its attempt listed as in flight: tried again when the lease ends.
    assert found[bad] == ("pending", ["in_flight"])
    # The batch that failed wrote nothing: each recorded attempt's events are there once.
    rows = await pool.fetch(
        "SELECT message_key, convert_from(payload, 'UTF8')::jsonb ->> 'state' AS state"
        " FROM outbox WHERE message_key = ANY($1::text[]) AND topic = 'ops.events.v1'",
        list(db.traces),
    )
    states_of = Counter((r["message_key"], r["state"]) for r in rows)
    assert max(states_of.values()) == 1
    assert sum(state == "delivered" for _, state in states_of) == 4


async def test_concurrent_workers_never_send_one_assignment_twice(
    db: Db,
) -> None:
    one, two = db.one, db.two
    made = list(await plant(db, 60))
    sender = Recording()
    # Two instances (pools) of two workers each, small batches, all claiming at once.
    workers = [worker(DeliveryStore(p), sender, batch_size=7) for p in (one, one, two, two)]

    async def drain(w: DeliveryWorker) -> None:
        while await w.step():
            pass

    await asyncio.wait_for(asyncio.gather(*(drain(w) for w in workers)), timeout=60)
    assert sender.sent == Counter(dict.fromkeys(made, 1))
    assert await states(one, made) == {a: ("delivered", ["delivered"]) for a in made}
