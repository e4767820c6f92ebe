"""In-memory fakes of the gateway's delivery seams (`ports.DeliveryUnits`, `ports.Sender`) and a
claimed delivery to attempt, for the delivery handler tests (no database, no network).

The fake transaction keeps the rules the SQL keeps (test_gateway_delivery_store_contract.py
holds it to adapters.delivery_store): an assignment is marked delivered once, an endpoint is
disabled once, a delivery finished delivered or failed takes no second outcome, and a
transaction that raises keeps nothing it wrote.
"""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID, uuid4

from pydantic import SecretStr

from services.provider_gateway.adapters.channels import WebhookSender
from services.provider_gateway.adapters.webhook_client import webhook_session
from services.provider_gateway.config import ProviderChannels
from services.provider_gateway.domain import Delivered, GiveUp, RetryPolicy, Step, first_assignment
from services.provider_gateway.domain.health import (
    Breaker,
    BreakerPolicy,
    after_attempt,
)
from services.provider_gateway.handlers.delivery import attempt
from services.provider_gateway.ports import AttemptResult, Claimed, Opener
from shared import Pathway, Priority, Provider
from tests.provider_gateway.gateway_fakes import clear_only
from tests.provider_gateway.gateway_samples import (
    API_KEYS,
    SECRETS,
    T0,
    decision_for,
    received_event,
)
from tests.provider_gateway.webhook_server import Handler, webhook_server
from tests.support.emits import Emitted, RecordsEmits


def claimed(
    rid: UUID | None = None,
    *,
    channel: str = "webhook",
    cycle_attempt: int = 1,
    priority: Priority = Priority.STANDARD,
) -> Claimed:
    rid = rid or uuid4()
    body = first_assignment(received_event(rid), decision_for(rid, "juno"), T0)
    assert body is not None
    return Claimed(
        assignment_id=body.assignment_id,
        channel=channel,
        referral_id=rid,
        provider=Provider.JUNO,
        priority=priority,
        pathway=Pathway.STALKING_ADVOCACY,
        attempt=cycle_attempt,
        cycle_attempt=cycle_attempt,
        first_attempt_at=None,
        body=body.model_dump_json().encode(),
    )


@dataclass
class FakeDeliveryTx(RecordsEmits):
    finished: list[tuple[Claimed, AttemptResult, Step]] = field(default_factory=list)
    delivered: set[str] = field(default_factory=set)
    disabled: set[Provider] = field(default_factory=set)
    emitted: list[tuple[str, Any]] = field(default_factory=list)
    breaker: Breaker = field(default_factory=Breaker)
    waiting: int = 0  # deliveries that a closing breaker releases
    ended: set[tuple[str, str]] = field(default_factory=set)  # (assignment, channel) done

    async def record_health(
        self, claimed: Claimed, *, answered: bool, at: datetime, policy: BreakerPolicy
    ) -> tuple[Breaker, Breaker, int]:
        before = self.breaker
        self.breaker = after_attempt(
            before, answered=answered, probe=claimed.probe, now=at, policy=policy
        )
        released = self.waiting if self.breaker.state is not before.state and answered else 0
        return before, self.breaker, released

    async def finish(
        self,
        claimed: Claimed,
        result: AttemptResult,
        step: Step,
        *,
        at: datetime,
        first_attempt_at: datetime,
    ) -> bool:
        # As the SQL: a delivery that ended (delivered or failed) takes no second outcome.
        key = (claimed.assignment_id, claimed.channel)
        if key in self.ended:
            return False
        self.finished.append((claimed, result, step))
        if isinstance(step, Delivered | GiveUp):
            self.ended.add(key)
        return True

    async def mark_delivered(self, assignment_id: str, at: datetime) -> bool:
        first = assignment_id not in self.delivered
        self.delivered.add(assignment_id)
        return first

    async def is_delivered(self, assignment_id: str) -> bool:
        return assignment_id in self.delivered

    async def disable_endpoint(self, provider: Provider, at: datetime, reason_code: str) -> bool:
        first = provider not in self.disabled
        self.disabled.add(provider)
        return first

    def _recorded(self, emitted: Emitted) -> None:
        self.emitted.append((emitted.topic, emitted.event))

    def states(self) -> list[str]:
        return [e.state.value for t, e in self.emitted if t == "ops.events.v1"]

    def alerts(self) -> list[str]:
        return [e.kind.value for t, e in self.emitted if t == "ops.alerts.v1"]


@dataclass
class FakeRecorder:
    tx: FakeDeliveryTx = field(default_factory=FakeDeliveryTx)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[FakeDeliveryTx]:
        # All or nothing, as the SQL transaction: what a raising block wrote is put back.
        kept = copy.deepcopy(self.tx)
        try:
            yield self.tx
        except BaseException:
            self.tx = kept
            raise


class Fixed:
    def __init__(self, result: AttemptResult) -> None:
        self.result = result

    async def send(self, delivery: object) -> AttemptResult:
        return self.result


@asynccontextmanager
async def sender(
    handler: Handler,
    clock: Callable[[], datetime] = lambda: T0,
    opener: Opener = clear_only,
    *,
    delivery: str = "full",
    public_url: str = "",
    read_timeout: float = 5.0,
) -> AsyncIterator[WebhookSender]:
    """The real webhook sender, on the gateway's real client, to a real endpoint on loopback
    that `handler` answers (tests.provider_gateway.webhook_server)."""
    async with (
        webhook_server(handler) as url,
        webhook_session(connect_timeout=2.0, read_timeout=read_timeout) as session,
    ):
        juno = ProviderChannels(
            Provider.JUNO,
            url,
            True,
            SecretStr(SECRETS["juno"]),
            SecretStr(API_KEYS["juno"]),
            delivery=delivery,  # type: ignore[arg-type]
            public_url=public_url,
        )
        yield WebhookSender(session, {Provider.JUNO: juno}, clock=clock, opener=opener)


async def run(
    result: AttemptResult,
    delivery: Claimed | None = None,
    recorder: FakeRecorder | None = None,
    breaker: BreakerPolicy | None = None,
) -> tuple[Step, FakeDeliveryTx]:
    recorder = recorder or FakeRecorder()
    step = await attempt(
        delivery or claimed(),
        Fixed(result),
        recorder,
        RetryPolicy(),
        now=lambda: T0,
        rng=lambda: 0.5,
        breaker=breaker,
    )
    return step, recorder.tx
