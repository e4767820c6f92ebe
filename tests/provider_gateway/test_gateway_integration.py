"""The gateway against the real Kafka and PostgreSQL, with the demo receiver on real HTTP.

Started by the shared `stack_env` fixture, which FAILS (never skips) when Kafka or PostgreSQL
cannot be started. Retries, deadlines and polls are shortened through settings, not mocks.
Assertions look only at this test's referrals: other runs may leave deliveries behind.
"""

from __future__ import annotations

import itertools
import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import UUID, uuid4

import asyncpg
import httpx
import pytest
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from services.common.kafka import make_broker, publish_event
from services.common.kafka_security import KafkaSecurity
from services.demo_receiver.app import create_app as create_receiver
from services.provider_gateway.adapters import admin
from services.provider_gateway.app import create_app
from services.provider_gateway.config import GatewaySettings
from shared import ProviderResponse, Service
from shared.cloudevents import TYPE_RESPONSE
from shared.topics import ASSIGNMENTS_RESPONSES, responses_topic
from tests.provider_gateway.gateway_harness import (
    KafkaTap,
    eventually,
    publish_referral,
    rows,
    serving,
)
from tests.provider_gateway.gateway_samples import decision_for, received_event
from tests.support.cloudevents_check import Marks, assert_valid_cloudevents, mark
from tests.support.infra import ROOT, service_env
from tests.support.kafka import connection, tooling

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

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
    done = subprocess.run(
        [sys.executable, "-m", "services.provider_gateway", *args],
        env=service_env(gateway.stack),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return done.stdout


async def _ready(api: httpx.AsyncClient) -> bool:
    return (await api.get("/readyz")).status_code == 200


@pytest.fixture(autouse=True)
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


async def test_decided_and_received_become_a_signed_webhook_and_a_kafka_assignment(
    gateway: Gateway,
) -> None:
    rid = await referral(gateway, "juno")
    asg = f"asg_{rid}_1"
    got = await gateway.delivered_to("juno", asg)
    assert (got["referral_id"], got["pathway"], got["reason"]) == (
        str(rid),
        "stalking_advocacy",
        "decision",
    )
    assert got["assignment"]["referral"]["victim"]["name"] == "Sam Example"
    delivered = await gateway.tap.wait_for(
        "ops.events.v1", str(rid), lambda b: b["state"] == "delivered"
    )
    assert delivered["provider"] == "juno"
    assert delivered["latency_ms"] is not None
    on_topic = await gateway.tap.wait_for("assignments.juno.v1", str(rid))
    assert on_topic["assignment_id"] == asg
    assert gateway.tap.headers("assignments.juno.v1", str(rid))[0]["ce_id"] == asg
    await eventually(lambda: gateway.attempts(asg), what="ledger row")
    (first,) = await gateway.attempts(asg)
    assert (first["status_code"], first["outcome"]) == (200, "delivered")


async def test_a_redelivered_decision_makes_no_second_assignment(gateway: Gateway) -> None:
    rid = await referral(gateway, "juno")
    await gateway.delivered_to("juno", f"asg_{rid}_1")
    await publish_referral(gateway.bootstrap, received_event(rid), decision_for(rid, "nwa"))
    later = await referral(gateway, "juno")  # partitions differ: wait for the redelivery too
    await gateway.delivered_to("juno", f"asg_{later}_1")
    found = await rows(
        gateway.dsn, "SELECT assignment_id FROM assignments WHERE referral_id = $1", rid
    )
    assert found == [{"assignment_id": f"asg_{rid}_1"}]


async def test_out_of_area_makes_no_assignment(gateway: Gateway) -> None:
    rid = uuid4()
    await publish_referral(
        gateway.bootstrap, received_event(rid), decision_for(rid, None, pathway="out_of_area")
    )
    await eventually(
        lambda: rows(
            gateway.dsn,
            "SELECT 1 FROM decisions WHERE referral_id = $1"
            " AND EXISTS (SELECT 1 FROM referrals_received r"
            " WHERE r.referral_id = $1)",
            rid,
        ),
        what="both halves stored",
    )
    assert await rows(gateway.dsn, "SELECT 1 FROM assignments WHERE referral_id = $1", rid) == []


async def test_failures_are_retried_under_the_same_webhook_id_honouring_retry_after(
    gateway: Gateway,
) -> None:
    await gateway.control("juno", fail_status=503, retry_after=1)
    rid = await referral(gateway, "juno")
    asg = f"asg_{rid}_1"

    async def failed_twice() -> list[dict[str, Any]] | None:
        found = await gateway.attempts(asg)
        return found if len(found) >= 2 else None

    await eventually(failed_twice, what="two failed attempts")
    await gateway.control("juno")
    got = await gateway.delivered_to("juno", asg)
    assert got["count"] == 1
    ledger = await gateway.attempts(asg)
    assert [a["status_code"] for a in ledger][-1] == 200
    assert {a["status_code"] for a in ledger[:-1]} == {503}
    assert [a["attempt"] for a in ledger] == list(range(1, len(ledger) + 1))
    gaps = [(b["at"] - a["at"]).total_seconds() for a, b in itertools.pairwise(ledger)]
    assert min(gaps) >= 0.9  # Retry-After: 1 beats the 0.3 s schedule


async def test_an_exhausted_delivery_is_dead_lettered_then_replayed(gateway: Gateway) -> None:
    await gateway.control("equation", fail_status=500)
    rid = await referral(gateway, "equation")
    asg = f"asg_{rid}_1"
    letter = await gateway.tap.wait_for("ops.deadletter.v1", str(rid))
    assert (letter["reason_code"], letter["source_topic"]) == ("exhausted", "webhook:equation")
    alert = await gateway.tap.wait_for("ops.alerts.v1", str(rid))
    assert alert["kind"] == "delivery_exhausted"
    await gateway.tap.wait_for("ops.events.v1", str(rid), lambda b: b["state"] == "delivery_failed")
    ledger = await gateway.attempts(asg)
    assert (ledger[-1]["at"] - ledger[0]["at"]).total_seconds() >= 2.0
    listed = cli(gateway, "deliveries", "failed", "--provider", "equation")
    (line,) = [x for x in listed.splitlines() if asg in x]
    assert f"attempts={len(ledger)}" in line
    assert "last_status_code=500" in line
    assert "Sam Example" not in listed
    await gateway.control("equation")
    assert (
        cli(gateway, "deliveries", "replay", "--assignment", asg)
        .strip()
        .endswith("1 deliveries queued again")
    )
    await gateway.delivered_to("equation", asg)
    await gateway.tap.wait_for("ops.events.v1", str(rid), lambda b: b["state"] == "delivered")


async def test_gone_disables_the_endpoint_until_it_is_enabled(gateway: Gateway) -> None:
    await gateway.control("equation", fail_status=410)
    pool = await asyncpg.create_pool(gateway.dsn, min_size=1, max_size=2)
    try:
        rid = await referral(gateway, "equation")
        alert = await gateway.tap.wait_for(
            "ops.alerts.v1", str(rid), lambda b: b["kind"] == "dead_lettered"
        )
        assert alert["reason_code"] == "endpoint_gone"
        (endpoint,) = [e for e in await admin.endpoints(pool) if e["provider"] == "equation"]
        assert endpoint["disabled_at"] is not None
        await gateway.control("equation")
        waiting = await referral(gateway, "equation")
        await eventually(
            lambda: rows(gateway.dsn, "SELECT 1 FROM assignments WHERE referral_id = $1", waiting),
            what="assignment",
        )
        assert await gateway.attempts(f"asg_{waiting}_1") == []
        assert await admin.enable_endpoint(pool, "equation") is True
        await gateway.delivered_to("equation", f"asg_{waiting}_1")
    finally:
        await admin.enable_endpoint(pool, "equation")
        await pool.close()


async def test_a_decline_over_http_reroutes_to_the_lead_provider(gateway: Gateway) -> None:
    rid = await referral(gateway, "juno")
    await gateway.delivered_to("juno", f"asg_{rid}_1")
    answer = {
        "referral_id": str(rid),
        "provider": "juno",
        "status": "declined",
        "reason": "no capacity",
        "at": datetime.now(UTC).isoformat(),
    }
    response = await gateway.api.post(
        f"/v1/assignments/{rid}/response",
        json=answer,
        headers={"Authorization": f"Bearer {gateway.keys['juno']}"},
    )
    assert response.status_code == 200, response.text
    rerouted = await gateway.delivered_to("nwa", f"asg_{rid}_2")
    assert rerouted["reason"] == "reroute_declined"
    await gateway.tap.wait_for("ops.events.v1", str(rid), lambda b: b["state"] == "rerouted")
    declined = await gateway.tap.wait_for(
        "ops.events.v1", str(rid), lambda b: b["state"] == "declined"
    )
    assert declined["provider"] == "juno"
    echo = await gateway.tap.wait_for("assignments.responses.v1", str(rid))
    assert echo["assignment_id"] == f"asg_{rid}_1"
    late = await gateway.api.post(
        f"/v1/assignments/{rid}/response",
        json={**answer, "status": "accepted"},
        headers={"Authorization": f"Bearer {gateway.keys['juno']}"},
    )
    assert late.status_code == 404


async def test_an_acceptance_on_kafka_is_applied(gateway: Gateway) -> None:
    rid = await referral(gateway, "juno")
    await gateway.delivered_to("juno", f"asg_{rid}_1")
    broker = make_broker(gateway.bootstrap, client_id="gateway-tests", security=tooling())
    await broker.start()
    try:
        accepted = ProviderResponse.model_validate(
            {"referral_id": rid, "provider": "juno", "status": "accepted", "at": datetime.now(UTC)}
        )
        await publish_event(
            broker,
            accepted,
            topic=ASSIGNMENTS_RESPONSES,
            key=str(rid),
            ce_type=TYPE_RESPONSE,
            service=Service.PROVIDER_GATEWAY,
        )
    finally:
        await broker.stop()
    await gateway.tap.wait_for("ops.events.v1", str(rid), lambda b: b["state"] == "accepted")
    (row,) = await rows(
        gateway.dsn, "SELECT state, accepted_at FROM assignments WHERE referral_id = $1", rid
    )
    assert row["state"] == "accepted"
    assert row["accepted_at"] is not None


async def test_on_a_providers_own_topic_its_answer_is_applied_and_another_providers_refused(
    gateway: Gateway,
) -> None:
    """The gateway subscribes to `assignments.responses.<provider>.v1` by pattern (topics made
    here, after it started) and takes the provider from the topic, not from the body."""
    admin_client = AIOKafkaAdminClient(bootstrap_servers=gateway.bootstrap, **connection())
    await admin_client.start()
    try:
        await admin_client.create_topics(
            [NewTopic(responses_topic(p), 1, 1) for p in ("juno", "nwa")]
        )
    except TopicAlreadyExistsError:
        pass
    finally:
        await admin_client.close()
    rid = await referral(gateway, "juno")
    await gateway.delivered_to("juno", f"asg_{rid}_1")
    accepted = ProviderResponse.model_validate(
        {"referral_id": rid, "provider": "juno", "status": "accepted", "at": datetime.now(UTC)}
    )
    broker = make_broker(gateway.bootstrap, client_id="gateway-tests", security=tooling())
    await broker.start()
    try:
        for topic in (responses_topic("nwa"), responses_topic("juno")):  # nwa speaking for juno
            await publish_event(
                broker,
                accepted,
                topic=topic,
                key=str(rid),
                ce_type=TYPE_RESPONSE,
                service=Service.PROVIDER_GATEWAY,
            )
    finally:
        await broker.stop()
    letter = await gateway.tap.wait_for("ops.deadletter.v1", str(rid))
    assert (letter["reason_code"], letter["source_topic"]) == (
        "provider_mismatch",
        responses_topic("nwa"),
    )
    await gateway.tap.wait_for("ops.events.v1", str(rid), lambda b: b["state"] == "accepted")
    (row,) = await rows(gateway.dsn, "SELECT state FROM assignments WHERE referral_id = $1", rid)
    assert row["state"] == "accepted"


async def test_an_urgent_assignment_not_accepted_in_time_is_escalated_once(
    gateway: Gateway,
) -> None:
    rid = await referral(gateway, "juno", priority="urgent")
    overdue = await gateway.tap.wait_for(
        "ops.events.v1", str(rid), lambda b: b["state"] == "overdue"
    )
    assert overdue["provider"] == "juno"
    escalated = await gateway.delivered_to("nwa", f"asg_{rid}_2")
    assert escalated["reason"] == "sla_escalation"
    # The lead provider's round then misses its own deadline: a critical alert, no third round.
    await gateway.tap.wait_for("ops.alerts.v1", str(rid), lambda b: b["severity"] == "critical")
    found = await rows(gateway.dsn, "SELECT round FROM assignments WHERE referral_id = $1", rid)
    assert sorted(r["round"] for r in found) == [1, 2]


async def test_ops_topics_carry_no_personal_data(gateway: Gateway) -> None:
    rid = await referral(gateway, "juno")
    await gateway.tap.wait_for("ops.events.v1", str(rid), lambda b: b["state"] == "delivered")
    for topic in ("ops.events.v1", "ops.alerts.v1", "ops.deadletter.v1"):
        for body in gateway.tap.bodies(topic, str(rid)):
            text = str(body)
            for personal in ("Sam Example", "NG7 2AH", "07700900123", "police.example"):
                assert personal not in text


async def test_a_decision_whose_referral_never_comes_alerts_ops_once_and_still_assigns_later(
    gateway: Gateway,
) -> None:
    rid, lonely = uuid4(), uuid4()
    await publish_referral(gateway.bootstrap, None, decision_for(rid, "juno"))
    await publish_referral(gateway.bootstrap, received_event(lonely), None)
    alert = await gateway.tap.wait_for("ops.alerts.v1", str(rid), timeout=30)
    assert (alert["kind"], alert["reason_code"], alert["provider"]) == (
        "referral_half_missing",
        "referral_missing",
        "juno",
    )
    other = await gateway.tap.wait_for("ops.alerts.v1", str(lonely), timeout=30)
    assert other["reason_code"] == "decision_missing"
    await publish_referral(gateway.bootstrap, received_event(rid), None)
    await gateway.delivered_to("juno", f"asg_{rid}_1")
    assert len(gateway.tap.bodies("ops.alerts.v1", str(rid))) == 1


async def test_every_message_the_gateway_wrote_is_a_cloudevent_of_its_topic_and_schema(
    gateway: Gateway, topic_marks: Marks
) -> None:
    """Read with the official CloudEvents SDK and the contract's JSON Schemas: every message
    of ours since the module started (assignments, responses, ops events, alerts and dead
    letters of the tests above, and this test's own delivery)."""
    rid = await referral(gateway, "juno")
    await gateway.tap.wait_for("ops.events.v1", str(rid), lambda b: b["state"] == "delivered")
    await gateway.tap.wait_for("assignments.juno.v1", str(rid))
    await assert_valid_cloudevents(
        gateway.bootstrap, topic_marks, expect=("assignments.juno.v1", "ops.events.v1")
    )
