"""With Kafka stopped, intake still accepts referrals; once Kafka is back every one of them
arrives on `referrals.received.v1` exactly once (real broker, real PostgreSQL)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any
from uuid import uuid4

import httpx
import pytest

from shared.topics import REFERRALS_RECEIVED
from tests.support.infra import kafka_script, service_env
from tests.support.kafka import collect
from tests.support.pipeline import provision_demo_agency_env
from tests.support.processes import ServiceProcess, free_port

pytestmark = pytest.mark.integration
N = 25


@pytest.fixture
def intake(stack_env: dict[str, str], tmp_path: Path) -> Iterator[ServiceProcess]:
    port = free_port()
    env = service_env(stack_env, INTAKE_HTTP_PORT=str(port))
    provision_demo_agency_env(env, stack_env["DEMO_AGENCY_API_KEY"])
    process = ServiceProcess("intake", ["services.intake", "serve"], env, port, tmp_path).start()
    process.wait_ready("/healthz")
    try:
        yield process
    finally:
        process.stop()
        kafka_script("start")


async def test_referrals_accepted_while_kafka_is_down_all_arrive_once_it_is_back(
    intake: ServiceProcess, stack_env: dict[str, str], example_submission: dict[str, Any]
) -> None:
    kafka_script("stop")
    headers = {"Authorization": f"Bearer {stack_env['DEMO_AGENCY_API_KEY']}"}
    referral_ids: set[str] = set()
    async with httpx.AsyncClient(base_url=intake.url, headers=headers, timeout=10) as client:
        assert (await client.get("/readyz")).json()["checks"]["kafka"] is False
        for _ in range(N):
            body = example_submission | {"submission_id": f"OUTAGE-{uuid4().hex[:10]}"}
            response = await client.post("/v1/referrals", json=body)
            assert response.status_code == 201, response.text
            referral_ids.add(response.json()["referral_id"])
    assert len(referral_ids) == N

    kafka_script("start")
    records = await collect(
        stack_env["KAFKA_BOOTSTRAP_SERVERS"],
        REFERRALS_RECEIVED,
        lambda r: r.key in referral_ids,
        until=lambda kept: {r.key for r in kept} == referral_ids,
        timeout=120,
        settle=3,
    )
    keys = [r.key for r in records]
    assert set(keys) == referral_ids, f"missing: {referral_ids - set(keys)}"
    assert len(keys) == N, "a referral was published more than once"
    for record in records:
        assert record.headers["ce_type"] == "uk.nottssas.referral.received.v1"
        assert record.json()["referral_id"] == record.key
