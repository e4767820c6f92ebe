"""What the gateway tells ops: state changes, alerts and dead letters, by id and code only.

Rules kept here:
- nothing here carries personal data: referral ids, providers, pathways, priorities, attempt
  numbers, HTTP status codes, latencies and reason codes from closed sets, nothing else;
- every message is written through the caller's transaction (the outbox), with a fresh id
  that stays the same however often the relay has to publish it;
- the key is the referral id, so one referral's events stay in order;
- an endpoint's breaker opening and closing are one alert each (`endpoint_unhealthy` with the
  last failure's code and the consecutive failures; `endpoint_recovered` with how many waiting
  deliveries it released), and one log line each: provider and counts only.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol
from uuid import UUID, uuid4

import structlog

from services.provider_gateway.domain.health import Breaker, closed, opened
from services.provider_gateway.ports import Emitter
from shared import (
    AlertKind,
    Assignment,
    DeadLetter,
    OpsAlert,
    OpsEvent,
    Pathway,
    Priority,
    Provider,
    ReferralState,
    Service,
)
from shared.cloudevents import TYPE_DEADLETTER, TYPE_OPS_ALERT, TYPE_OPS_EVENT
from shared.topics import OPS_ALERTS, OPS_DEADLETTER, OPS_EVENTS

SERVICE = Service.PROVIDER_GATEWAY
log = structlog.get_logger(__name__)


class Facts(Protocol):
    """The routing facts of an assignment that ops may see."""

    @property
    def referral_id(self) -> UUID: ...
    @property
    def provider(self) -> Provider: ...
    @property
    def priority(self) -> Priority: ...
    @property
    def pathway(self) -> Pathway: ...


@dataclass(frozen=True)
class AssignmentFacts:
    """The `Facts` of an assignment body."""

    referral_id: UUID
    provider: Provider
    priority: Priority
    pathway: Pathway

    @classmethod
    def of(cls, assignment: Assignment) -> AssignmentFacts:
        d = assignment.decision
        return cls(assignment.referral_id, assignment.provider, d.priority, d.pathway)


async def event(
    tx: Emitter, state: ReferralState, facts: Facts, at: datetime, **extra: Any
) -> OpsEvent:
    """Queue one state change of `facts`' referral on `ops.events.v1`."""
    fields: dict[str, Any] = {
        "provider": facts.provider,
        "priority": facts.priority,
        "pathway": facts.pathway,
    } | extra
    ops = OpsEvent(
        event_id=uuid4(),
        at=at,
        service=SERVICE,
        state=state,
        referral_id=facts.referral_id,
        **fields,
    )
    key = str(facts.referral_id)
    await tx.emit(
        ops, topic=OPS_EVENTS, key=key, ce_type=TYPE_OPS_EVENT, event_id=str(ops.event_id), at=at
    )
    return ops


async def alert(
    tx: Emitter,
    kind: AlertKind,
    at: datetime,
    *,
    referral_id: UUID | None = None,
    provider: Provider | None = None,
    reason_code: str | None = None,
    critical: bool = False,
    count: int | None = None,
) -> OpsAlert:
    """Queue an alert for a person on `ops.alerts.v1`."""
    ops = OpsAlert(
        alert_id=uuid4(),
        at=at,
        service=SERVICE,
        kind=kind,
        severity="critical" if critical else "warning",
        referral_id=referral_id,
        provider=provider,
        reason_code=reason_code,
        count=count,
    )
    key = str(referral_id) if referral_id else None
    await tx.emit(
        ops, topic=OPS_ALERTS, key=key, ce_type=TYPE_OPS_ALERT, event_id=str(ops.alert_id), at=at
    )
    return ops


async def dead_letter(
    tx: Emitter, at: datetime, *, referral_id: UUID, source: str, reason_code: str
) -> DeadLetter:
    """Queue a dead letter that names a delivery by reference (its referral and channel)."""
    letter = DeadLetter(
        dead_letter_id=uuid4(),
        at=at,
        service=SERVICE,
        source_topic=source,
        reason_code=reason_code,
    )
    key = str(referral_id)
    await tx.emit(
        letter,
        topic=OPS_DEADLETTER,
        key=key,
        ce_type=TYPE_DEADLETTER,
        event_id=str(letter.dead_letter_id),
        at=at,
    )
    return letter


async def breaker_moved(
    tx: Emitter,
    provider: Provider,
    health: tuple[Breaker, Breaker, int],
    at: datetime,
    *,
    reason_code: str,
) -> None:
    """Queue an alert if an attempt opened or closed `provider`'s endpoint breaker."""
    before, after, released = health
    if opened(before, after):
        await alert(
            tx,
            AlertKind.ENDPOINT_UNHEALTHY,
            at,
            provider=provider,
            reason_code=reason_code,
            count=after.failures,
        )
        log.warning("endpoint breaker opened", provider=provider.value, failures=after.failures)
    elif closed(before, after):
        await alert(
            tx,
            AlertKind.ENDPOINT_RECOVERED,
            at,
            provider=provider,
            reason_code="answered",
            count=released,
        )
        log.info("endpoint breaker closed", provider=provider.value, released=released)
