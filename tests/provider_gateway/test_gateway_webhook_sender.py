"""The webhook channel (adapters.channels.WebhookSender) over httpx's MockTransport: the signed
request it sends and the result each answer or transport failure becomes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest
from standardwebhooks.webhooks import Webhook

from services.provider_gateway.domain import (
    Outcome,
)
from tests.provider_gateway.delivery_fakes import URL, claimed, sender
from tests.provider_gateway.gateway_samples import (
    SECRETS,
)


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
