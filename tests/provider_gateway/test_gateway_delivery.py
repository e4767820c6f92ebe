"""Delivery: the webhook sender over httpx MockTransport, and one attempt's consequences."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import httpx
import pytest
from pydantic import BaseModel, SecretStr
from standardwebhooks.webhooks import Webhook

from services.provider_gateway.adapters.channels import WebhookSender
from services.provider_gateway.config import ProviderChannels
from services.provider_gateway.domain import (
    Delivered,
    GiveUp,
    Outcome,
    RetryAt,
    RetryPolicy,
    Step,
    first_assignment,
)
from services.provider_gateway.domain.health import (
    Breaker,
    BreakerPolicy,
    BreakerState,
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

URL = "https://juno.example/webhooks"


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


def sender(
    handler: Callable[[httpx.Request], httpx.Response],
    clock: Callable[[], datetime] = lambda: T0,
    opener: Opener = clear_only,
) -> WebhookSender:
    client = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    juno = ProviderChannels(
        Provider.JUNO, URL, True, SecretStr(SECRETS["juno"]), SecretStr(API_KEYS["juno"])
    )
    return WebhookSender(client, {Provider.JUNO: juno}, clock=clock, opener=opener)


async def test_the_webhook_is_signed_and_carries_the_assignment() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(202)

    delivery = claimed()
    now = datetime.now(UTC)
    result = await sender(handler, clock=lambda: now).send(delivery)
    assert (result.outcome, result.status_code, result.error_code) == (Outcome.DELIVERED, 202, None)
    (request,) = seen
    assert str(request.url) == URL
    assert request.headers["webhook-id"] == delivery.assignment_id
    assert request.headers["webhook-timestamp"] == str(int(now.timestamp()))
    assert request.content == delivery.body
    body = Webhook(SECRETS["juno"]).verify(request.content, dict(request.headers))
    assert body["assignment_id"] == delivery.assignment_id
    assert body["referral"]["victim"]["name"] == "Sam Example"


@pytest.mark.parametrize(
    ("status", "outcome"),
    [
        (503, Outcome.RETRYABLE),
        (429, Outcome.RETRYABLE),
        (404, Outcome.PERMANENT),
        (410, Outcome.GONE),
    ],
)
async def test_a_refusal_is_a_result_named_by_its_status(status: int, outcome: Outcome) -> None:
    result = await sender(lambda _r: httpx.Response(status, headers={"Retry-After": "7"})).send(
        claimed()
    )
    assert (result.outcome, result.error_code) == (outcome, f"http_{status}")
    assert result.retry_after == timedelta(seconds=7)


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (httpx.ReadTimeout("slow"), "timeout"),
        (httpx.ConnectTimeout("slow"), "timeout"),
        (httpx.ConnectError("refused"), "connect_error"),
        (httpx.RemoteProtocolError("garbled"), "transport_error"),
    ],
)
async def test_transport_failures_become_retryable_results(error: Exception, code: str) -> None:
    def handler(_request: httpx.Request) -> httpx.Response:
        raise error

    result = await sender(handler).send(claimed())
    assert (result.outcome, result.status_code, result.error_code) == (
        Outcome.RETRYABLE,
        None,
        code,
    )


@dataclass
class FakeDeliveryTx:
    finished: list[tuple[Claimed, AttemptResult, Step]] = field(default_factory=list)
    delivered: set[str] = field(default_factory=set)
    disabled: set[Provider] = field(default_factory=set)
    emitted: list[tuple[str, Any]] = field(default_factory=list)
    breaker: Breaker = field(default_factory=Breaker)
    waiting: int = 0  # deliveries that a closing breaker releases

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
        self.finished.append((claimed, result, step))
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

    async def emit(
        self,
        event: BaseModel,
        *,
        topic: str,
        key: str | None,
        ce_type: str,
        event_id: str,
        at: datetime,
    ) -> None:
        self.emitted.append((topic, event))

    def states(self) -> list[str]:
        return [e.state.value for t, e in self.emitted if t == "ops.events.v1"]

    def alerts(self) -> list[str]:
        return [e.kind.value for t, e in self.emitted if t == "ops.alerts.v1"]


@dataclass
class FakeRecorder:
    tx: FakeDeliveryTx = field(default_factory=FakeDeliveryTx)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[FakeDeliveryTx]:
        yield self.tx


class Fixed:
    def __init__(self, result: AttemptResult) -> None:
        self.result = result

    async def send(self, delivery: object) -> AttemptResult:
        return self.result


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


async def test_a_delivered_attempt_reports_attempted_then_delivered_with_its_latency() -> None:
    step, tx = await run(AttemptResult(Outcome.DELIVERED, 200, 42.0))
    assert step == Delivered()
    assert tx.states() == ["delivery_attempted", "delivered"]
    delivered = tx.emitted[-1][1]
    assert (delivered.latency_ms, delivered.provider) == (42.0, Provider.JUNO)


async def test_the_second_channel_to_deliver_reports_no_second_delivered() -> None:
    recorder = FakeRecorder()
    rid = uuid4()
    await run(AttemptResult(Outcome.DELIVERED, None, 3.0), claimed(rid, channel="kafka"), recorder)
    await run(AttemptResult(Outcome.DELIVERED, 200, 9.0), claimed(rid), recorder)
    assert recorder.tx.states() == ["delivery_attempted", "delivered", "delivery_attempted"]


async def test_a_retryable_failure_is_scheduled_and_reported_as_attempted_only() -> None:
    step, tx = await run(AttemptResult(Outcome.RETRYABLE, 503, 5.0, "http_503"))
    assert step == RetryAt(T0 + timedelta(seconds=5))
    assert tx.states() == ["delivery_attempted"]
    assert tx.emitted[0][1].reason_code == "webhook:http_503"


async def test_a_permanent_failure_is_dead_lettered_with_an_alert() -> None:
    step, tx = await run(AttemptResult(Outcome.PERMANENT, 404, 5.0, "http_404"))
    assert step == GiveUp("http_404")
    assert tx.states() == ["delivery_attempted", "delivery_failed"]
    assert tx.alerts() == ["dead_lettered"]
    (letter,) = [e for t, e in tx.emitted if t == "ops.deadletter.v1"]
    assert (letter.source_topic, letter.reason_code) == ("webhook:juno", "http_404")


async def test_an_exhausted_delivery_alerts_critically_when_urgent() -> None:
    delivery = claimed(cycle_attempt=99, priority=Priority.URGENT)
    delivery = Claimed(**{**delivery.__dict__, "first_attempt_at": T0 - timedelta(days=2)})
    step, tx = await run(AttemptResult(Outcome.RETRYABLE, None, 10_000.0, "timeout"), delivery)
    assert step == GiveUp("exhausted")
    alert = next(e for t, e in tx.emitted if t == "ops.alerts.v1")
    assert (alert.kind.value, alert.severity) == ("delivery_exhausted", "critical")


async def test_gone_disables_the_endpoint_once() -> None:
    recorder = FakeRecorder()
    await run(AttemptResult(Outcome.GONE, 410, 5.0, "http_410"), recorder=recorder)
    await run(AttemptResult(Outcome.GONE, 410, 5.0, "http_410"), recorder=recorder)
    assert recorder.tx.disabled == {Provider.JUNO}
    assert recorder.tx.alerts().count("endpoint_disabled") == 1


async def test_dead_letters_and_alerts_carry_no_personal_data() -> None:
    _, tx = await run(AttemptResult(Outcome.PERMANENT, 400, 5.0, "http_400"))
    for _topic, event in tx.emitted:
        text = json.dumps(event.model_dump(mode="json"))
        assert "Sam Example" not in text
        assert "07700900123" not in text


async def test_the_breaker_opening_and_closing_are_one_alert_each_without_personal_data() -> None:
    recorder = FakeRecorder()
    policy = BreakerPolicy(threshold=2)
    failed = AttemptResult(Outcome.RETRYABLE, None, 3.0, "connect_error")
    for _ in range(3):  # the third failure comes while open: no second alert
        await run(failed, recorder=recorder, breaker=policy)
    assert recorder.tx.breaker.state is BreakerState.OPEN
    assert recorder.tx.alerts() == ["endpoint_unhealthy"]
    recorder.tx.waiting = 7
    probe = dataclasses.replace(claimed(), probe=True)
    await run(AttemptResult(Outcome.DELIVERED, 200, 4.0), probe, recorder, policy)
    assert recorder.tx.alerts() == ["endpoint_unhealthy", "endpoint_recovered"]
    unhealthy, recovered = [e for t, e in recorder.tx.emitted if t == "ops.alerts.v1"]
    assert (unhealthy.provider, unhealthy.reason_code, unhealthy.count) == (
        Provider.JUNO,
        "connect_error",
        2,
    )
    assert (recovered.provider, recovered.count, recovered.referral_id) == (Provider.JUNO, 7, None)
    for alert in (unhealthy, recovered):
        assert "Sam Example" not in alert.model_dump_json()


async def test_kafka_attempts_leave_the_webhook_breaker_alone() -> None:
    recorder = FakeRecorder()
    failed = AttemptResult(Outcome.RETRYABLE, None, 3.0, "kafka_error")
    for _ in range(3):
        await run(failed, claimed(channel="kafka"), recorder, BreakerPolicy(threshold=1))
    assert recorder.tx.breaker == Breaker()
