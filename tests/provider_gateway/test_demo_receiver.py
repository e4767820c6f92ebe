"""The demo provider receiver over ASGI: verification, dedupe, record file, failure controls."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from services.demo_receiver.app import create_app
from services.provider_gateway.adapters.signing import webhook_headers
from tests.provider_gateway.gateway_samples import SECRETS

ASSIGNMENT = {
    "assignment_id": "asg_r1_1",
    "referral_id": "r1",
    "provider": "juno",
    "reason": "decision",
    "decision": {"pathway": "stalking_advocacy", "priority": "urgent"},
    "referral": {"victim": {"name": "Sam Example"}},
}


@pytest.fixture
def record(tmp_path: Path) -> Path:
    return tmp_path / "received.jsonl"


@pytest.fixture
async def client(record: Path) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=create_app(SECRETS, record))
    async with httpx.AsyncClient(transport=transport, base_url="http://receiver") as c:
        yield c


async def deliver(
    client: httpx.AsyncClient,
    provider: str = "juno",
    body: dict[str, Any] | None = None,
    webhook_id: str = "asg_r1_1",
    secret: str | None = None,
) -> httpx.Response:
    raw = json.dumps(body or ASSIGNMENT).encode()
    headers = webhook_headers(secret or SECRETS[provider], webhook_id, int(time.time()), raw)
    return await client.post(f"/webhooks/{provider}", content=raw, headers=headers)


async def received(client: httpx.AsyncClient, **params: str) -> dict[str, Any]:
    data: dict[str, Any] = (await client.get("/received", params=params)).json()
    return data


async def test_a_verified_delivery_is_recorded(client: httpx.AsyncClient, record: Path) -> None:
    response = await deliver(client)
    assert response.status_code == 200
    assert response.json() == {"received": "asg_r1_1", "duplicate": False}
    got = await received(client)
    assert (got["raw_count"], got["unique_count"]) == (1, 1)
    (item,) = got["deliveries"]
    assert (item["provider"], item["pathway"], item["priority"], item["assignment_id"]) == (
        "juno",
        "stalking_advocacy",
        "urgent",
        "asg_r1_1",
    )
    (line,) = record.read_text().splitlines()
    assert json.loads(line)["webhook_id"] == "asg_r1_1"


async def test_a_redelivery_is_counted_but_recorded_once(client: httpx.AsyncClient) -> None:
    await deliver(client)
    again = await deliver(client)
    assert again.json()["duplicate"] is True
    got = await received(client)
    assert (got["raw_count"], got["unique_count"]) == (2, 1)
    assert got["deliveries"][0]["count"] == 2


async def test_a_bad_signature_is_401_and_not_recorded(client: httpx.AsyncClient) -> None:
    response = await deliver(client, secret=SECRETS["nwa"])
    assert response.status_code == 401
    got = await received(client)
    assert (got["raw_count"], got["rejected_count"]) == (0, 1)


async def test_unsigned_or_garbled_headers_are_401(client: httpx.AsyncClient) -> None:
    plain = await client.post("/webhooks/juno", json=ASSIGNMENT)
    garbled = await client.post(
        "/webhooks/juno",
        json=ASSIGNMENT,
        headers={
            "webhook-id": "x",
            "webhook-timestamp": str(int(time.time())),
            "webhook-signature": "nonsense",
        },
    )
    assert (plain.status_code, garbled.status_code) == (401, 401)


async def test_an_unknown_provider_is_refused(client: httpx.AsyncClient) -> None:
    assert (await client.post("/webhooks/acme", content=b"{}")).status_code == 422


async def test_controlled_failure_then_recovery(client: httpx.AsyncClient) -> None:
    control = await client.post("/control/juno", json={"fail_status": 503, "retry_after": 30})
    assert control.status_code == 200
    failing = await deliver(client)
    assert (failing.status_code, failing.headers["retry-after"]) == (503, "30")
    await client.post("/control/juno", json={})
    assert (await deliver(client)).status_code == 200
    got = await received(client)
    assert (got["failed_count"], got["raw_count"]) == (1, 1)


async def test_failure_for_the_next_n_requests_only(client: httpx.AsyncClient) -> None:
    await client.post("/control/nwa", json={"fail_status": 410, "fail_times": 2})
    codes = [(await deliver(client, "nwa")).status_code for _ in range(3)]
    assert codes == [410, 410, 200]


async def test_controls_are_per_provider(client: httpx.AsyncClient) -> None:
    await client.post("/control/nwa", json={"fail_status": 500})
    assert (await deliver(client, "juno")).status_code == 200


async def test_received_can_be_filtered_and_reset(client: httpx.AsyncClient) -> None:
    await deliver(client, "juno")
    await deliver(client, "nwa", webhook_id="asg_r1_2")
    assert len((await received(client, provider="nwa"))["deliveries"]) == 1
    await client.post("/reset")
    assert (await received(client))["unique_count"] == 0


async def test_a_slow_endpoint_waits_before_answering(client: httpx.AsyncClient) -> None:
    await client.post("/control/equation", json={"delay_seconds": 0.2})
    start = time.monotonic()
    assert (await deliver(client, "equation")).status_code == 200
    assert time.monotonic() - start >= 0.2
