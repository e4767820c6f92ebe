"""The gateway's part of an erasure: on intake's `erased` ops event, forget the details.

Rules kept here:
- only intake's `erased` events on `ops.events.v1` count (the gateway's own `erased` event and
  every other state are ignored); each is applied once per referral, in the referral's locked
  transaction;
- applying it nulls the gateway's copies of the referral's details, ends its waiting deliveries
  in the terminal `erased` state (never attempted: there is nothing left to send) and queues the
  gateway's own `erased` ops event with how many deliveries ended (`deliveries_ended:<n>`), in
  the same transaction; ids, states, timings and the attempt ledger stay;
- a provider's fetch of an erased referral then answers 410 (see `fetch_api`).
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from datetime import datetime
from typing import Protocol
from uuid import NAMESPACE_URL, UUID, uuid5

import structlog
from faststream.kafka import KafkaBroker

from services.common.kafka import durable_subscriber
from services.provider_gateway.ports import Emitter
from shared import OpsEvent, ReferralState, Service
from shared.cloudevents import TYPE_OPS_EVENT
from shared.topics import OPS_EVENTS

log = structlog.get_logger(__name__)


class ErasureUnit(Emitter, Protocol):
    """One referral's locked erasure transaction (see adapters.erasure_store.ErasureTx)."""

    referral_id: UUID

    async def record(self, erased_at: datetime, event_id: UUID) -> bool: ...
    async def erase_copies(self) -> int: ...


class ErasureUnits(Protocol):
    def referral(self, referral_id: UUID) -> AbstractAsyncContextManager[ErasureUnit]: ...


def is_intake_erasure(event: OpsEvent) -> bool:
    return (
        event.state is ReferralState.ERASED
        and event.service is Service.INTAKE
        and event.referral_id is not None
    )


async def record_erasure(tx: ErasureUnit, event: OpsEvent, at: datetime) -> int | None:
    """Apply intake's erasure once; the number of deliveries it ended, None if applied before."""
    if not await tx.record(event.at, event.event_id):
        return None
    ended = await tx.erase_copies()
    ops = OpsEvent(
        event_id=uuid5(NAMESPACE_URL, f"urn:nottssas:gateway-erased:{tx.referral_id}"),
        at=at,
        service=Service.PROVIDER_GATEWAY,
        state=ReferralState.ERASED,
        referral_id=tx.referral_id,
        reason_code=f"deliveries_ended:{ended}",
    )
    key = str(tx.referral_id)
    await tx.emit(
        ops, topic=OPS_EVENTS, key=key, ce_type=TYPE_OPS_EVENT, event_id=str(ops.event_id), at=at
    )
    return ended


def register_erasure_subscriber(
    broker: KafkaBroker, store: Callable[[], ErasureUnits], now: Callable[[], datetime]
) -> None:
    """Subscribe to `ops.events.v1` for intake's erasures (group provider-gateway-erasures)."""

    @durable_subscriber(
        broker,
        OPS_EVENTS,
        group_id="provider-gateway-erasures",
        title="provider_gateway/erasures",
        description="Intake's `erased` ops events: the gateway forgets the referral's details.",
    )
    async def on_ops_event(event: OpsEvent) -> None:
        if not is_intake_erasure(event):
            return
        assert event.referral_id is not None
        async with store().referral(event.referral_id) as tx:
            ended = await record_erasure(tx, event, now())
        structlog.contextvars.bind_contextvars(referral_id=str(event.referral_id))
        log.info("referral erased", deliveries_ended=ended, duplicate=ended is None)
