"""The router's app on the shared start-up skeleton (`services/common/startup.py`), in process.

Rules shown here: with PostgreSQL up and Kafka away, the lifespan starts (pool, migrations, the
broker retried in the background), `/healthz` answers and `/readyz` reports PostgreSQL ready and
Kafka not; shutdown does not wait on an outbox it cannot drain (the broker never connected) and
is done within a few seconds. Real PostgreSQL; Kafka is a loopback port nothing listens on.
"""

from __future__ import annotations

import time

import httpx
import pytest

from services.common.kafka_security import PLAINTEXT
from services.router.app import create_app
from services.router.config import RouterSettings
from shared import Decision, ReferralReceived
from tests.support.processes import free_port

pytestmark = pytest.mark.integration


def _no_rules(_referral: ReferralReceived) -> Decision:
    raise NotImplementedError("no referral reaches this router")


async def test_with_kafka_away_the_router_serves_health_and_stops_promptly(
    stack_env: dict[str, str],
) -> None:
    settings = RouterSettings.model_validate(
        {
            "KAFKA_BOOTSTRAP_SERVERS": f"127.0.0.1:{free_port()}",
            "database_url": stack_env["ROUTER_DATABASE_URL"],
            # Nothing listens on that port, so no principal is needed to find Kafka away.
            "kafka_security": PLAINTEXT,
        }
    )
    app = create_app(settings, decide=_no_rules)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://router") as client:
        async with app.router.lifespan_context(app):
            assert (await client.get("/healthz")).status_code == 200
            ready = await client.get("/readyz")
            assert ready.status_code == 503
            assert ready.json()["checks"] == {"postgres": True, "kafka": False}
            assert app.state.runtime.relay is not None, "the router's outbox relay runs"
            stopping = time.monotonic()
        assert time.monotonic() - stopping < 5.0
