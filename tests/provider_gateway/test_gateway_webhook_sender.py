"""The webhook channel (adapters.channels.WebhookSender on adapters.webhook_client) against a real
endpoint on loopback (webhook_server): the signed request it sends, verified with the official
`standardwebhooks` package, and the result each answer or transport failure becomes; redirects
are not followed, an answer's body is bounded, the timeouts hold."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import SecretStr
from standardwebhooks.webhooks import Webhook

from services.provider_gateway.adapters.channels import WebhookSender
from services.provider_gateway.adapters.webhook_client import MAX_ANSWER_BYTES, webhook_session
from services.provider_gateway.config import ProviderChannels
from services.provider_gateway.domain import Outcome
from shared import Provider
from tests.provider_gateway.delivery_fakes import claimed, sender
from tests.provider_gateway.gateway_fakes import clear_only
from tests.provider_gateway.gateway_samples import API_KEYS, SECRETS
from tests.provider_gateway.webhook_server import PATH, Received, Reply, answering


async def test_the_webhook_is_signed_and_carries_the_assignment() -> None:
    seen: list[Received] = []
    delivery = claimed()
    now = datetime.now(UTC)
    async with sender(answering(202, seen), clock=lambda: now) as webhook:
        result = await webhook.send(delivery)
    assert (result.outcome, result.status_code, result.error_code) == (Outcome.DELIVERED, 202, None)
    (request,) = seen
    assert request.url.endswith(PATH)
    assert request.headers["webhook-id"] == delivery.assignment_id
    assert request.headers["webhook-timestamp"] == str(int(now.timestamp()))
    assert request.headers["content-type"] == "application/json"
    assert request.content == delivery.body
    body = Webhook(SECRETS["juno"]).verify(request.content, request.headers)
    assert body["assignment_id"] == delivery.assignment_id
    assert body["referral"]["victim"]["name"] == "Sam Example"


async def test_one_connection_per_endpoint_is_kept_and_reused() -> None:
    seen: list[Received] = []
    async with sender(answering(204, seen)) as webhook:
        for _ in range(3):
            assert (await webhook.send(claimed())).outcome is Outcome.DELIVERED
    assert [r.connection for r in seen] == [1, 1, 1]


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
    async with sender(lambda _r: Reply(status, {"Retry-After": "7"}, b"busy")) as webhook:
        result = await webhook.send(claimed())
    assert (result.outcome, result.error_code) == (outcome, f"http_{status}")
    assert result.retry_after == timedelta(seconds=7)


async def test_a_redirect_is_not_followed_but_judged_by_its_status() -> None:
    seen: list[Received] = []

    def moved(request: Received) -> Reply:
        seen.append(request)
        return Reply(302, {"Location": request.url + "/elsewhere"})

    async with sender(moved) as webhook:
        result = await webhook.send(claimed())
    assert [r.url.endswith(PATH) for r in seen] == [True]
    assert (result.status_code, result.error_code) == (302, "http_302")


async def test_a_huge_answer_is_not_read_past_its_bound() -> None:
    seen: list[Received] = []

    def huge(request: Received) -> Reply:
        seen.append(request)
        return Reply(200, body=b"x" * (MAX_ANSWER_BYTES * 64))

    async with sender(huge) as webhook:
        result = await webhook.send(claimed())
        again = await webhook.send(claimed())
    assert (result.outcome, result.status_code) == (Outcome.DELIVERED, 200)
    assert again.outcome is Outcome.DELIVERED
    # Not drained: the first connection was closed, the second attempt came on a new one.
    assert [r.connection for r in seen] == [1, 2]


@contextmanager
def unaccepting() -> Iterator[str]:
    """A loopback port whose accept queue is full: a connection there never completes."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    fillers = [socket.socket() for _ in range(3)]
    for f in fillers:
        f.setblocking(False)
        with suppress(BlockingIOError):
            f.connect(("127.0.0.1", port))
    try:
        yield f"http://127.0.0.1:{port}{PATH}"
    finally:
        for s in (*fillers, listener):
            s.close()


async def _send_to(url: str, *, connect: float = 0.5) -> tuple[Outcome, int | None, str | None]:
    juno = ProviderChannels(
        Provider.JUNO, url, True, SecretStr(SECRETS["juno"]), SecretStr(API_KEYS["juno"])
    )
    async with webhook_session(connect_timeout=connect, read_timeout=1.0) as session:
        webhook = WebhookSender(
            session, {Provider.JUNO: juno}, clock=lambda: datetime.now(UTC), opener=clear_only
        )
        r = await webhook.send(claimed())
    return r.outcome, r.status_code, r.error_code


async def test_no_connection_in_time_is_a_retryable_timeout() -> None:
    with unaccepting() as url:
        started = asyncio.get_running_loop().time()
        assert await _send_to(url) == (Outcome.RETRYABLE, None, "timeout")
    assert asyncio.get_running_loop().time() - started < 3


async def test_a_refused_connection_is_a_retryable_connect_error() -> None:
    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        port = free.getsockname()[1]  # bound, never listening: refused
        found = await _send_to(f"http://127.0.0.1:{port}{PATH}")
    assert found == (Outcome.RETRYABLE, None, "connect_error")


@pytest.mark.parametrize(
    ("reply", "code"),
    [
        (Reply(wait=1.5), "timeout"),  # past the 1 s read timeout
        (Reply(raw=b"garbled\r\n\r\n"), "transport_error"),
        (Reply(close=True), "transport_error"),
    ],
)
async def test_transport_failures_become_retryable_results(reply: Reply, code: str) -> None:
    async with sender(lambda _r: reply, read_timeout=1.0) as webhook:
        result = await webhook.send(claimed())
    assert (result.outcome, result.status_code, result.error_code) == (
        Outcome.RETRYABLE,
        None,
        code,
    )
