"""The router's use case: decide a received referral once, and queue the events that announce it.

Rules kept here:
- a referral has one decision: the first stored wins, and a redelivered referral (after a crash
  or a rebalance, or sent twice) gets the stored decision back and queues nothing more;
- the decision and its events (the decision on `referrals.decided.v1`, its PII-free copy on
  `ops.events.v1`) are written in the one transaction the caller opened (`DecisionUnit`), so
  they are published if and only if the decision is stored: the relay publishes them after the
  commit (no store-then-publish-then-mark);
- each event's id is derived from the referral (`decided:<referral_id>`, and a uuid5 for the ops
  copy), so however often the relay has to publish a row, consumers see one event;
- a decision stored before the outbox existed and never published has its events queued by
  its redelivery, once;
- a batch of referrals (`handle_batch`) keeps the same rules in one transaction for the batch:
  the new decisions are stored in one go, each queues its events once (inside its own `within`
  context: the referral's trace), a referral the batch carries twice is decided once, and one
  decided before (a redelivered batch) goes the single referral's way and queues nothing more.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from datetime import datetime
from uuid import NAMESPACE_URL, UUID, uuid5

from services.router.ports import Decide, DecisionBatch, DecisionUnit, Emitter
from shared import Decision, OpsEvent, ReferralReceived, ReferralState, Service
from shared.cloudevents import TYPE_DECIDED, TYPE_OPS_EVENT
from shared.topics import OPS_EVENTS, REFERRALS_DECIDED


@dataclass(frozen=True)
class Context:
    """What the use case needs besides the transaction: the policy in force and a clock."""

    decide: Decide
    now: Callable[[], datetime]


@dataclass(frozen=True)
class Decided:
    """The referral's decision, and whether it was made now (False: it was already stored)."""

    decision: Decision
    new: bool


class DecisionVanished(Exception):
    """A decision seen as stored could not be read back (deleted while the router ran)."""


async def handle_received(tx: DecisionUnit, referral: ReferralReceived, ctx: Context) -> Decided:
    """Decide (or recall) the referral's decision inside `tx`, queuing its events once."""
    # Deciding is pure and cheaper than a round trip, so the new referral's path (the common
    # one) is a single insert; a redelivery discards the decision made here.
    decision = ctx.decide(referral).model_copy(update={"decided_at": ctx.now()})
    if await tx.save(referral, decision):
        await _queue_events(tx, decision)
        return Decided(decision, new=True)
    stored = await tx.stored()
    if stored is None:
        raise DecisionVanished("the stored decision is gone")
    if not stored.events_queued and await tx.mark_queued():
        await _queue_events(tx, stored.decision)
    return Decided(stored.decision, new=False)


def _no_context(_referral: ReferralReceived) -> AbstractContextManager[object]:
    return nullcontext()


async def handle_batch(
    tx: DecisionBatch,
    referrals: Sequence[ReferralReceived],
    ctx: Context,
    *,
    within: Callable[[ReferralReceived], AbstractContextManager[object]] = _no_context,
) -> list[Decided]:
    """Decide (or recall) each referral of a batch inside `tx`, queuing each one's events once."""
    firsts: dict[UUID, ReferralReceived] = {}
    for referral in referrals:
        firsts.setdefault(referral.referral_id, referral)  # a copy later in the batch: the same
    decided = [
        (r, ctx.decide(r).model_copy(update={"decided_at": ctx.now()})) for r in firsts.values()
    ]
    stored_now = await tx.save_all(decided)
    results: list[Decided] = []
    for referral, decision in decided:
        with within(referral):
            if referral.referral_id in stored_now:
                await _queue_events(tx, decision)
                results.append(Decided(decision, new=True))
            else:  # decided before this batch: recalled as a single referral is
                results.append(await handle_received(tx.unit(referral.referral_id), referral, ctx))
    return results


def decided_ops_event(decision: Decision) -> OpsEvent:
    """The PII-free `ops.events.v1` record of a decision, its id derived from the referral."""
    return OpsEvent(
        event_id=uuid5(NAMESPACE_URL, f"urn:nottssas:decided:{decision.referral_id}"),
        at=decision.decided_at,
        service=Service.ROUTER,
        state=ReferralState.DECIDED,
        referral_id=decision.referral_id,
        pathway=decision.pathway,
        provider=decision.provider,
        priority=decision.priority,
        rules_version=decision.rules_version,
    )


async def _queue_events(tx: Emitter, decision: Decision) -> None:
    key = str(decision.referral_id)
    await tx.emit(
        decision,
        topic=REFERRALS_DECIDED,
        key=key,
        ce_type=TYPE_DECIDED,
        event_id=f"decided:{key}",
        at=decision.decided_at,
    )
    await tx.emit(
        decided_ops_event(decision),
        topic=OPS_EVENTS,
        key=key,
        ce_type=TYPE_OPS_EVENT,
        event_id=f"ops:decided:{key}",
        at=decision.decided_at,
    )
