"""The router's use case (`handle_received`) against a fake store and a recording publisher.

Rules shown here (handlers.py): a referral is decided once; the stored decision is the one
published, stamped with the time it was decided; a redelivered referral whose decision was not yet
published republishes that same decision; one already published is not published again; a store
that fails stops the handler before anything is published.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from services.router.engine import CachedRules, Router
from services.router.handlers import handle_received
from shared import Decision, Pathway, Provider, ReferralReceived
from tests.router.conftest import FakeDirectory, MakeReceived
from tests.router.fakes import FakeDecisionStore, StoreDown

T1 = datetime(2026, 11, 20, 10, 17, tzinfo=UTC)
T2 = datetime(2026, 11, 20, 10, 30, tzinfo=UTC)


class Published(list[Decision]):
    async def __call__(self, decision: Decision) -> None:
        self.append(decision)


@pytest.fixture
def router(rules: CachedRules, directory: FakeDirectory) -> Router:
    return Router(rules, directory)


async def _handle(
    referral: ReferralReceived,
    store: FakeDecisionStore,
    router: Router,
    published: Published,
    at: datetime = T1,
) -> tuple[Decision, bool]:
    return await handle_received(
        referral, store=store, decide=router, publish=published, now=lambda: at
    )


async def test_a_new_referral_is_decided_stored_and_published_stamped_with_the_decision_time(
    make_received: MakeReceived, router: Router
) -> None:
    store, published, referral = FakeDecisionStore(), Published(), make_received()
    decision, new = await _handle(referral, store, router, published)
    assert new
    assert (decision.pathway, decision.provider) == (Pathway.STALKING_ADVOCACY, Provider.JUNO)
    assert decision.decided_at == T1
    assert published == [decision]
    assert store.decisions[referral.referral_id] == decision
    assert store.published[referral.referral_id] == T1


async def test_a_redelivered_referral_already_published_is_not_published_again(
    make_received: MakeReceived, router: Router
) -> None:
    store, published, referral = FakeDecisionStore(), Published(), make_received()
    first, _ = await _handle(referral, store, router, published, T1)
    again, new = await _handle(referral, store, router, published, T2)
    assert (again, new) == (first, False)
    assert published == [first]


async def test_a_redelivered_referral_stored_but_unpublished_republishes_the_stored_decision(
    make_received: MakeReceived, router: Router
) -> None:
    store, published, referral = FakeDecisionStore(), Published(), make_received()
    stored = router(referral).model_copy(update={"decided_at": T1})
    await store.save(referral, stored)  # as if the process died before publishing
    decision, new = await _handle(referral, store, router, published, T2)
    assert (decision, new) == (stored, False)
    assert published == [stored]
    assert store.published[referral.referral_id] == T2


async def test_a_referral_redelivered_with_other_content_keeps_its_first_decision(
    make_received: MakeReceived, router: Router
) -> None:
    store, published, referral = FakeDecisionStore(), Published(), make_received()
    first, _ = await _handle(referral, store, router, published)
    changed = make_received(victim__gender="male").model_copy(
        update={"referral_id": referral.referral_id}
    )
    store.published.clear()  # unpublished, so the redelivery publishes what is stored
    again, _ = await _handle(changed, store, router, published, T2)
    assert again == first
    assert published == [first, first]


async def test_a_store_that_fails_stops_the_handler_before_anything_is_published(
    make_received: MakeReceived, router: Router
) -> None:
    store, published = FakeDecisionStore(), Published()
    store.down = True
    with pytest.raises(StoreDown):
        await _handle(make_received(), store, router, published)
    assert published == []
