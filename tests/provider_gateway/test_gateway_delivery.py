"""One attempt at a claimed delivery (handlers.delivery.attempt) against the fake seams: the
events, alerts, dead letters and breaker moves its consequences write."""

from __future__ import annotations

import dataclasses
import json
from datetime import timedelta
from uuid import uuid4

from services.provider_gateway.domain import (
    Delivered,
    GiveUp,
    Outcome,
    RetryAt,
)
from services.provider_gateway.domain.health import (
    Breaker,
    BreakerPolicy,
    BreakerState,
)
from services.provider_gateway.ports import AttemptResult, Claimed
from shared import Priority, Provider
from tests.provider_gateway.delivery_fakes import FakeRecorder, claimed, run
from tests.provider_gateway.gateway_samples import (
    T0,
)


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
