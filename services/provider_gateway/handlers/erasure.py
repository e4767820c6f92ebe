"""The gateway's part of an erasure: on intake's `erased` ops event, forget the details.

Rules kept here:
- only intake's `erased` events on `ops.events.v1` count (the gateway's own `erased` event and
  every other state are ignored); each is applied once per referral, in the referral's locked
  transaction;
- applying it nulls the gateway's copies of the referral's details, ends its waiting deliveries
  in the terminal `erased` state (never attempted: there is nothing left to send) and queues the
  gateway's own `erased` ops event with how many deliveries ended (`deliveries_ended:<n>`), in
  the same transaction; ids, states, timings and the attempt ledger stay;
- a provider's fetch of an erased referral then answers 410 (see `fetch_api`); the subscriber
  that applies it is in `subscribers.py`.
"""

from __future__ import annotations

from datetime import datetime
from uuid import NAMESPACE_URL, uuid5

from services.provider_gateway.ports import ErasureUnit
from shared import OpsEvent, ReferralState, Service
from shared.cloudevents import TYPE_OPS_EVENT
from shared.topics import OPS_EVENTS


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
