"""The router's use case (`handle_received`) against the fake store (tests/router/fakes.py).

Rules shown here (handlers.py): a referral is decided once, stamped with the time it was decided;
the decision and its two events (the decision, its PII-free ops copy) are queued in the same
transaction, under ids derived from the referral; a redelivered referral gets the stored decision
back and queues nothing; a decision stored before the outbox existed and never published has its
events queued by its redelivery, once; a store that fails leaves nothing stored or queued.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from uuid import NAMESPACE_URL, uuid5

import pytest

from services.router.engine import CachedRules, Router
from services.router.handlers import Context, Decided, handle_received
from services.router.ports import Stored
from shared import Pathway, Provider, ReferralReceived
from shared.topics import OPS_EVENTS, REFERRALS_DECIDED
from tests.router.conftest import FakeDirectory, MakeReceived
from tests.router.fakes import FakeDecisionStore, StoreDown

T1 = datetime(2026, 11, 20, 10, 17, tzinfo=UTC)
T2 = datetime(2026, 11, 20, 10, 30, tzinfo=UTC)


@pytest.fixture
def router(rules: CachedRules, directory: FakeDirectory) -> Router:
    return Router(rules, directory)


async def _handle(
    referral: ReferralReceived, store: FakeDecisionStore, router: Router, at: datetime = T1
) -> Decided:
    async with store.referral(referral.referral_id) as tx:
        return await handle_received(tx, referral, Context(decide=router, now=lambda: at))


async def test_a_new_referral_is_decided_and_stored_with_its_events_stamped_with_the_decision_time(
    make_received: MakeReceived, router: Router
) -> None:
    store, referral = FakeDecisionStore(), make_received()
    decided = await _handle(referral, store, router)
    decision, rid = decided.decision, str(referral.referral_id)
    assert decided.new
    assert (decision.pathway, decision.provider) == (Pathway.STALKING_ADVOCACY, Provider.JUNO)
    assert decision.decided_at == T1
    assert store.decisions[referral.referral_id] == Stored(decision, events_queued=True)
    decided_row, ops_row = store.outbox
    assert (decided_row.topic, decided_row.key) == (REFERRALS_DECIDED, rid)
    assert decided_row.headers["ce_id"] == f"decided:{rid}"
    assert decided_row.headers["ce_time"] == T1.isoformat()
    assert json.loads(decided_row.payload) == decision.model_dump(mode="json")
    assert (ops_row.topic, ops_row.key) == (OPS_EVENTS, rid)
    assert ops_row.headers["ce_id"] == f"ops:decided:{rid}"


async def test_the_ops_copy_carries_codes_only_under_an_id_derived_from_the_referral(
    make_received: MakeReceived, router: Router
) -> None:
    store, referral = FakeDecisionStore(), make_received()
    await _handle(referral, store, router)
    ops = json.loads(store.outbox[1].payload)
    assert ops["event_id"] == str(
        uuid5(NAMESPACE_URL, f"urn:nottssas:decided:{referral.referral_id}")
    )
    assert (ops["state"], ops["service"], ops["provider"]) == ("decided", "router", "juno")
    text = store.outbox[1].payload.decode()
    name = referral.submission.victim.name
    assert isinstance(name, str), "make_received makes a clear submission"
    assert name not in text
    assert str(referral.submission.victim.postcode) not in text


async def test_a_redelivered_referral_gets_its_stored_decision_and_queues_nothing_more(
    make_received: MakeReceived, router: Router
) -> None:
    store, referral = FakeDecisionStore(), make_received()
    first = await _handle(referral, store, router, T1)
    again = await _handle(referral, store, router, T2)
    assert again == Decided(first.decision, new=False)
    assert [m.headers["ce_id"] for m in store.outbox] == [
        f"decided:{referral.referral_id}",
        f"ops:decided:{referral.referral_id}",
    ]


async def test_a_referral_redelivered_with_other_content_keeps_its_first_decision(
    make_received: MakeReceived, router: Router
) -> None:
    store, referral = FakeDecisionStore(), make_received()
    first = await _handle(referral, store, router)
    changed = make_received(victim__gender="male").model_copy(
        update={"referral_id": referral.referral_id}
    )
    again = await _handle(changed, store, router, T2)
    assert again.decision == first.decision
    assert again.decision.provider == Provider.JUNO  # not equation, as the changed copy would be
    assert len(store.outbox) == 2


async def test_a_decision_stored_before_the_outbox_and_never_published_is_queued_by_its_redelivery(
    make_received: MakeReceived, router: Router
) -> None:
    store, referral = FakeDecisionStore(), make_received()
    legacy = router(referral).model_copy(update={"decided_at": T1})
    # As migration 0003 leaves a decision the old router stored and died before publishing.
    store.decisions[referral.referral_id] = Stored(legacy, events_queued=False)
    decided = await _handle(referral, store, router, T2)
    assert decided == Decided(legacy, new=False)
    assert [json.loads(m.payload)["decided_at"] for m in store.outbox[:1]] == [
        "2026-11-20T10:17:00Z"
    ]
    assert len(store.outbox) == 2
    await _handle(referral, store, router, T2)
    assert len(store.outbox) == 2, "queued once"


async def test_a_store_that_fails_leaves_nothing_stored_or_queued(
    make_received: MakeReceived, router: Router
) -> None:
    store = FakeDecisionStore(down=True)
    with pytest.raises(StoreDown):
        await _handle(make_received(), store, router)
    assert (store.decisions, store.outbox) == ({}, [])
