"""The gateway's Prometheus metrics: what is counted, when, and with which labels."""

from __future__ import annotations

from datetime import datetime, timedelta
from uuid import uuid4

import httpx
from fastapi import FastAPI
from prometheus_client import REGISTRY

from services.common.runtime import add_health_routes
from services.provider_gateway.adapters import metrics
from services.provider_gateway.domain import Outcome
from services.provider_gateway.domain.health import BreakerPolicy
from services.provider_gateway.ports import AttemptResult, Claimed
from tests.provider_gateway.delivery_fakes import (
    FakeDeliveryTx,
    FakeRecorder,
    claimed,
    run,
)
from tests.provider_gateway.gateway_samples import T0


def value(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def received_at(delivery: Claimed, at: datetime) -> Claimed:
    return Claimed(**{**delivery.__dict__, "received_at": at})


async def test_a_delivered_attempt_is_counted_by_provider_channel_and_outcome() -> None:
    labels = {"provider": "juno", "channel": "webhook"}
    attempts = value("gateway_delivery_attempts_total", **labels, outcome="delivered")
    finished = value("gateway_deliveries_finished_total", **labels, result="delivered")
    await run(AttemptResult(Outcome.DELIVERED, 200, 5.0))
    assert value("gateway_delivery_attempts_total", **labels, outcome="delivered") == attempts + 1
    assert value("gateway_deliveries_finished_total", **labels, result="delivered") == finished + 1


async def test_a_retry_is_an_attempt_but_no_final_result() -> None:
    labels = {"provider": "juno", "channel": "webhook"}
    retryable = value("gateway_delivery_attempts_total", **labels, outcome="retryable")
    given_up = value("gateway_deliveries_finished_total", **labels, result="given_up")
    await run(AttemptResult(Outcome.RETRYABLE, 503, 5.0, "http_503"))
    assert value("gateway_delivery_attempts_total", **labels, outcome="retryable") == retryable + 1
    assert value("gateway_deliveries_finished_total", **labels, result="given_up") == given_up


async def test_a_permanent_failure_is_counted_as_given_up() -> None:
    labels = {"provider": "juno", "channel": "webhook"}
    given_up = value("gateway_deliveries_finished_total", **labels, result="given_up")
    await run(AttemptResult(Outcome.PERMANENT, 404, 5.0, "http_404"))
    assert value("gateway_deliveries_finished_total", **labels, result="given_up") == given_up + 1


async def test_an_attempt_that_was_not_recorded_is_not_counted() -> None:
    class LateDuplicate(FakeDeliveryTx):
        async def finish(self, *_args: object, **_kwargs: object) -> bool:
            return False

    labels = {"provider": "juno", "channel": "webhook", "outcome": "delivered"}
    before = value("gateway_delivery_attempts_total", **labels)
    await run(AttemptResult(Outcome.DELIVERED, 200, 5.0), recorder=FakeRecorder(LateDuplicate()))
    assert value("gateway_delivery_attempts_total", **labels) == before


async def test_end_to_end_latency_is_observed_once_per_assignment_from_received_at() -> None:
    count = "gateway_received_to_delivered_seconds_count"
    total = "gateway_received_to_delivered_seconds_sum"
    before, before_sum = value(count, provider="juno"), value(total, provider="juno")
    recorder, rid = FakeRecorder(), uuid4()
    ninety_ago = T0 - timedelta(seconds=90)
    delivered = AttemptResult(Outcome.DELIVERED, 200, 5.0)
    await run(delivered, received_at(claimed(rid, channel="kafka"), ninety_ago), recorder)
    await run(delivered, received_at(claimed(rid), ninety_ago), recorder)
    assert value(count, provider="juno") == before + 1
    assert value(total, provider="juno") == before_sum + 90.0


def test_the_queue_gauges_show_every_channel_even_when_empty() -> None:
    metrics.set_queue({"webhook": (7, 3)})
    assert value("gateway_deliveries_pending", channel="webhook") == 7
    assert value("gateway_retry_queue_depth", channel="webhook") == 3
    assert value("gateway_retry_queue_depth", channel="kafka") == 0


async def test_metrics_are_exposed_with_no_ids_in_their_labels() -> None:
    rid = uuid4()
    await run(AttemptResult(Outcome.DELIVERED, 200, 5.0), received_at(claimed(rid), T0))
    app = FastAPI()
    add_health_routes(app, dict)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as client:
        text = (await client.get("/metrics")).text
    assert "gateway_delivery_attempts_total{" in text
    assert "gateway_retry_queue_depth{" in text
    assert str(rid) not in text
    assert "asg_" not in text


async def test_the_endpoint_breaker_gauge_follows_its_breaker() -> None:
    recorder = FakeRecorder()
    policy = BreakerPolicy(threshold=1)
    await run(AttemptResult(Outcome.RETRYABLE, 503, 5.0, "http_503"), None, recorder, policy)
    assert value("gateway_endpoint_breaker_state", provider="juno") == 2
    probe = Claimed(**{**claimed().__dict__, "probe": True})
    await run(AttemptResult(Outcome.DELIVERED, 200, 5.0), probe, recorder, policy)
    assert value("gateway_endpoint_breaker_state", provider="juno") == 0
    metrics.set_breaker("juno", "half_open")
    assert value("gateway_endpoint_breaker_state", provider="juno") == 1
