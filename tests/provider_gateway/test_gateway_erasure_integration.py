"""The gateway's part of an erasure, on the real PostgreSQL.

Rules checked here:
- intake's `erased` event nulls the gateway's copies (the stored details, every assignment
  body, the providers' free-text reasons), ends the waiting deliveries in `erased` (the claim takes only `pending` ones), and
  queues the gateway's own `erased` ops event, in one transaction; applied again, nothing;
- details that arrive after the erasure are not kept, and make no assignment;
- a decline of an erased referral cannot be handed on (ReferralErased), and an erased
  referral is never flagged overdue;
- the fetch audit is append-only.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import timedelta
from uuid import UUID, uuid4

import asyncpg
import pytest

from services.common.db import apply_migrations, create_pool
from services.provider_gateway.adapters.erasure_store import ErasureStore
from services.provider_gateway.adapters.referral_store import ReferralStore
from services.provider_gateway.domain import ReferralErased, SlaPolicy
from services.provider_gateway.handlers import (
    Context,
    record_decision,
    record_received,
    record_response,
)
from services.provider_gateway.handlers.erasure import record_erasure
from shared import OpsEvent, Provider, ProviderResponse, ReferralState, ResponseStatus, Service
from tests.provider_gateway.gateway_samples import T0, decision_for, received_event
from tests.support.infra import ROOT

pytestmark = pytest.mark.integration

MIGRATIONS = ROOT / "services" / "provider_gateway" / "migrations"
CTX = Context(
    sla=SlaPolicy(), channels=dict.fromkeys(Provider, ("webhook", "kafka")), now=lambda: T0
)


@pytest.fixture
async def pool(stack_env: dict[str, str]) -> AsyncIterator[asyncpg.Pool]:
    pool = await create_pool(stack_env["GATEWAY_DATABASE_URL"], max_size=4)
    try:
        await apply_migrations(pool, MIGRATIONS)
        yield pool
    finally:
        await pool.close()


def _erased(rid: UUID) -> OpsEvent:
    return OpsEvent(
        event_id=uuid4(),
        at=T0 + timedelta(hours=1),
        service=Service.INTAKE,
        state=ReferralState.ERASED,
        referral_id=rid,
        reason_code="operator_request",
    )


async def _assigned(pool: asyncpg.Pool, rid: UUID, provider: str = "juno") -> None:
    async with ReferralStore(pool).referral(rid) as tx:
        await record_received(tx, received_event(rid), CTX)
        assert await record_decision(tx, decision_for(rid, provider), CTX) is not None


async def _copies(pool: asyncpg.Pool, rid: UUID) -> dict[str, object]:
    return {
        "received": await pool.fetchval(
            "SELECT received IS NOT NULL FROM referrals_received WHERE referral_id = $1", rid
        ),
        "bodies": [
            r["has"]
            for r in await pool.fetch(
                "SELECT payload IS NOT NULL AS has FROM assignments WHERE referral_id = $1", rid
            )
        ],
        "deliveries": sorted(
            r["state"]
            for r in await pool.fetch(
                "SELECT d.state FROM deliveries d JOIN assignments a USING (assignment_id)"
                " WHERE a.referral_id = $1",
                rid,
            )
        ),
        "events": [
            json.loads(r["payload"])
            for r in await pool.fetch(
                "SELECT payload FROM outbox WHERE message_key = $1 AND topic = 'ops.events.v1'"
                " ORDER BY outbox_id",
                str(rid),
            )
        ],
    }


async def test_an_erasure_forgets_the_details_and_ends_waiting_deliveries_once(
    pool: asyncpg.Pool,
) -> None:
    rid, other = uuid4(), uuid4()
    await _assigned(pool, rid)
    await _assigned(pool, other)
    before = await _copies(pool, rid)
    assert (before["received"], before["bodies"], before["deliveries"]) == (
        True,
        [True],
        ["pending", "pending"],
    )
    event = _erased(rid)
    async with ErasureStore(pool).referral(rid) as tx:
        assert await record_erasure(tx, event, T0 + timedelta(hours=2)) == 2
    after = await _copies(pool, rid)
    assert (after["received"], after["bodies"], after["deliveries"]) == (
        False,
        [False],
        ["erased", "erased"],
    )
    gateway_event = after["events"][-1]  # type: ignore[index]
    assert (gateway_event["service"], gateway_event["state"], gateway_event["reason_code"]) == (
        "provider_gateway",
        "erased",
        "deliveries_ended:2",
    )
    assert await ErasureStore(pool).erased_at(rid) == event.at
    async with ErasureStore(pool).referral(rid) as tx:
        assert await record_erasure(tx, event, T0 + timedelta(hours=3)) is None
    assert await _copies(pool, rid) == after
    untouched = await _copies(pool, other)
    assert (untouched["received"], untouched["bodies"]) == (True, [True])
    assert untouched["deliveries"] == ["pending", "pending"]


async def test_details_arriving_after_the_erasure_are_not_kept(pool: asyncpg.Pool) -> None:
    rid = uuid4()
    async with ErasureStore(pool).referral(rid) as tx:
        assert await record_erasure(tx, _erased(rid), T0) == 0
    async with ReferralStore(pool).referral(rid) as tx:
        assert await record_decision(tx, decision_for(rid, "juno"), CTX) is None
        assert await record_received(tx, received_event(rid), CTX) is None
    copies = await _copies(pool, rid)
    assert (copies["received"], copies["bodies"], copies["deliveries"]) == (None, [], [])


async def test_an_erasure_nulls_the_providers_free_text_reason_and_keeps_the_answer(
    pool: asyncpg.Pool,
) -> None:
    rid = uuid4()
    await _assigned(pool, rid, "juno")
    answer = ProviderResponse(
        referral_id=rid,
        provider=Provider.JUNO,
        status=ResponseStatus.ACCEPTED,
        reason="spoke to Sam on the phone",
        at=T0,
    )
    async with ReferralStore(pool).referral(rid) as tx:
        await record_response(tx, answer, channel="kafka", ctx=CTX)
    async with ErasureStore(pool).referral(rid) as tx:
        await record_erasure(tx, _erased(rid), T0)
    [row] = await pool.fetch(
        "SELECT r.status, r.reason FROM responses r JOIN assignments a USING (assignment_id)"
        " WHERE a.referral_id = $1",
        rid,
    )
    assert (row["status"], row["reason"]) == ("accepted", None)


async def test_an_erased_referral_is_not_handed_on_nor_flagged_overdue(
    pool: asyncpg.Pool,
) -> None:
    rid = uuid4()
    await _assigned(pool, rid, "juno")
    async with ErasureStore(pool).referral(rid) as tx:
        await record_erasure(tx, _erased(rid), T0)
    declined = ProviderResponse(
        referral_id=rid, provider=Provider.JUNO, status=ResponseStatus.DECLINED, at=T0
    )
    with pytest.raises(ReferralErased):
        async with ReferralStore(pool).referral(rid) as tx:
            await record_response(tx, declined, channel="kafka", ctx=CTX)
    overdue = await ReferralStore(pool).overdue(T0 + timedelta(days=30), limit=100_000)
    assert rid not in overdue


async def test_the_fetch_audit_is_append_only(pool: asyncpg.Pool) -> None:
    rid = uuid4()
    await ErasureStore(pool).audit_fetch(rid, Provider.NWA, T0, 200)
    for statement in (
        "UPDATE assignment_fetches SET status = 404 WHERE referral_id = $1",
        "DELETE FROM assignment_fetches WHERE referral_id = $1",
    ):
        with pytest.raises(asyncpg.RaiseError, match="append-only"):
            await pool.execute(statement, rid)
