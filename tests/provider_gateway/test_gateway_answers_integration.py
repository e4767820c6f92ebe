"""Providers' answers and the gateway's escalations against the real Kafka and PostgreSQL
(gateway_live.py): re-routing on a decline, answers on the shared and the providers' own
topics, an urgent deadline escalated, a missing half alerted, and every message the gateway
wrote a CloudEvent of its topic with no personal data.
"""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import uuid4

import pytest
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from services.common.kafka import make_broker, publish_event
from shared import ProviderResponse, Service
from shared.cloudevents import TYPE_RESPONSE
from shared.topics import ASSIGNMENTS_RESPONSES, responses_topic
from tests.provider_gateway.gateway_harness import (
    publish_referral,
    rows,
)
from tests.provider_gateway.gateway_live import Gateway, referral
from tests.provider_gateway.gateway_samples import decision_for, received_event
from tests.support.cloudevents_check import Marks, assert_valid_cloudevents
from tests.support.kafka import connection, tooling

pytestmark = [
    pytest.mark.integration,
    pytest.mark.timeout(300),
    pytest.mark.usefixtures("receiver_works"),
]


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
