"""The live gateway the integration modules share: the real Kafka and PostgreSQL, the demo
receiver on real HTTP, one gateway per module (its fixtures are registered in conftest.py).

Started by the shared `stack_env` fixture, which FAILS (never skips) when Kafka or PostgreSQL
cannot be started. Retries, deadlines and polls are shortened through settings, not mocks.
Assertions look only at each test's referrals: other runs may leave deliveries behind.
A module uses it with `pytestmark = [..., pytest.mark.usefixtures("receiver_works")]`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any
from uuid import UUID, uuid4

import httpx
import pytest

from services.common.kafka_security import KafkaSecurity
from services.demo_receiver.app import create_app as create_receiver
from services.provider_gateway.app import create_app
from services.provider_gateway.config import GatewaySettings
from tests.provider_gateway.gateway_harness import (
    KafkaTap,
    eventually,
    publish_referral,
    rows,
    serving,
)
from tests.provider_gateway.gateway_samples import decision_for, received_event
from tests.support.cli import cli_output
from tests.support.cloudevents_check import Marks, mark
from tests.support.infra import service_env

TOPICS = [
    "ops.events.v1",
    "ops.alerts.v1",
    "ops.deadletter.v1",
    "assignments.juno.v1",
    "assignments.nwa.v1",
    "assignments.responses.v1",
]


@dataclass
class Gateway:
    api: httpx.AsyncClient
    receiver: httpx.AsyncClient
    tap: KafkaTap
    dsn: str
    bootstrap: str
    keys: dict[str, str]
    stack: dict[str, str]

    async def delivered_to(self, provider: str, webhook_id: str) -> dict[str, Any]:
        async def probe() -> dict[str, Any] | None:
            got = (await self.receiver.get("/received", params={"provider": provider})).json()
            return next((d for d in got["deliveries"] if d["webhook_id"] == webhook_id), None)

        return await eventually(probe, what=f"{webhook_id} at {provider}")

    async def attempts(self, assignment_id: str, channel: str = "webhook") -> list[dict[str, Any]]:
        return await rows(
            self.dsn,
            "SELECT * FROM delivery_attempts WHERE assignment_id = $1"
            " AND channel = $2 ORDER BY attempt",
            assignment_id,
            channel,
        )

    async def control(self, provider: str, **wanted: Any) -> None:
        (await self.receiver.post(f"/control/{provider}", json=wanted)).raise_for_status()


@pytest.fixture(scope="module")
async def topic_marks(stack_env: dict[str, str]) -> Marks:
    """Where every contract topic ended before this module's gateway started."""
    return await mark(stack_env["KAFKA_BOOTSTRAP_SERVERS"])


@pytest.fixture(scope="module")
async def gateway(stack_env: dict[str, str], topic_marks: Marks) -> AsyncIterator[Gateway]:
    dsn, bootstrap = stack_env["GATEWAY_DATABASE_URL"], stack_env["KAFKA_BOOTSTRAP_SERVERS"]
    secrets = {p: stack_env[f"WEBHOOK_SECRET_{p.upper()}"] for p in ("nwa", "juno", "equation")}
    keys = {p: stack_env[f"PROVIDER_API_KEY_{p.upper()}"] for p in ("nwa", "juno", "equation")}
    receiver_app = create_receiver(secrets)
    async with KafkaTap.open(bootstrap, TOPICS) as tap, serving(receiver_app) as receiver_url:
        settings = GatewaySettings.model_validate(
            {
                "database_url": dsn,
                "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
                # The gateway's own principal: its ACLs must allow all it does here.
                "kafka_security": KafkaSecurity.from_env("GATEWAY_", environ=stack_env),
                "nwa_webhook_url": f"{receiver_url}/webhooks/nwa",
                "juno_webhook_url": f"{receiver_url}/webhooks/juno",
                "equation_webhook_url": f"{receiver_url}/webhooks/equation",
                # Equation by webhook only, so that its webhook failures are its assignment's.
                "equation_kafka": False,
                "retry_schedule": "0.3,0.3,0.3",
                "retry_give_up_after_seconds": 2.0,
                "retry_after_max_seconds": 5.0,
                "sla_urgent_hours": 0.001,
                "sla_check_seconds": 0.5,
                "half_missing_after_seconds": 5.0,
                "delivery_poll_seconds": 0.2,
                "read_timeout_seconds": 2.0,
                "breaker_probe_seconds": 0.5,
                **{f"WEBHOOK_SECRET_{p.upper()}": s for p, s in secrets.items()},
                **{f"PROVIDER_API_KEY_{p.upper()}": k for p, k in keys.items()},
                "PII_KEK_KEYS": stack_env["PII_KEK_KEYS"],
                "PII_KEK_PRIMARY": stack_env["PII_KEK_PRIMARY"],
            }
        )
        app = create_app(settings)
        async with app.router.lifespan_context(app):
            await rows(dsn, "UPDATE endpoints SET disabled_at = NULL, reason_code = NULL")
            transport = httpx.ASGITransport(app=app)
            async with (
                httpx.AsyncClient(transport=transport, base_url="http://gateway") as api,
                httpx.AsyncClient(base_url=receiver_url) as receiver,
            ):
                await eventually(lambda: _ready(api), timeout=60, what="gateway ready")
                yield Gateway(api, receiver, tap, dsn, bootstrap, keys, stack_env)


def cli(gateway: Gateway, *args: str) -> str:
    """Run the gateway's command line against the same database; returns its output."""
    return cli_output(
        "services.provider_gateway", *args, env=service_env(gateway.stack), timeout=60
    )


async def _ready(api: httpx.AsyncClient) -> bool:
    return (await api.get("/readyz")).status_code == 200


@pytest.fixture
async def receiver_works(gateway: Gateway) -> AsyncIterator[None]:
    yield
    for provider in ("nwa", "juno", "equation"):
        await gateway.control(provider)
    # A test that made an endpoint fail may have left its breaker open.
    await rows(
        gateway.dsn,
        "UPDATE endpoints SET breaker_state = 'closed', breaker_failures = 0,"
        " breaker_probe_at = NULL",
    )


async def referral(gateway: Gateway, provider: str, priority: str = "standard") -> UUID:
    rid = uuid4()
    await publish_referral(
        gateway.bootstrap, received_event(rid), decision_for(rid, provider, priority=priority)
    )
    return rid
