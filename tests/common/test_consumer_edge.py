"""The consumer edge without a broker: CloudEvents envelopes, what ops may see, dead-letter alerts.

Rules checked:
- binary mode (the four required `ce_*` headers) and structured mode
  (`application/cloudevents+json`, the whole event in the body) are read with the SDK;
  anything else is refused naming the header or attribute at fault; structured mode only
  where the caller allows it (the topics outsiders write);
- a key that is not a referral id, and an event id we did not mint, are digests in ops;
  a field path keeps contract names only;
- every dead letter is alerted: the first of a topic's window at once, the rest counted into
  one alert at the window's end;
- on the in-memory broker, a provider response that is not a CloudEvent is dead-lettered (not
  applied) naming the header, a structured-mode response is applied, and the dead letter's
  key, subject and fields carry nothing the input chose.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any
from uuid import uuid4

import pytest
from faststream.kafka import TestKafkaBroker
from faststream.kafka.annotations import KafkaMessage

from services.common.dead_letter_alerts import DeadLetterAlerts
from services.common.edge import digest, safe_field, safe_id, safe_key
from services.common.envelope import EnvelopeRefused, UndecodableBody, read_event
from services.common.kafka import dead_letter_middleware, durable_subscriber, make_broker
from shared import OpsAlert, ProviderResponse, Service
from shared.cloudevents import TYPE_RESPONSE
from shared.topics import ASSIGNMENTS_RESPONSES, OPS_ALERTS, OPS_DEADLETTER, REFERRALS_RECEIVED
from tests.support.kafka import cloudevent

DATA = {"hello": "world"}
BODY = json.dumps(DATA).encode()


def structured(**attributes: Any) -> bytes:
    event = {"specversion": "1.0", "id": "e-1", "source": "urn:x", "type": "t", "data": DATA}
    return json.dumps(event | attributes).encode()


def test_binary_mode_gives_the_body_as_the_data() -> None:
    assert read_event(cloudevent("t"), BODY, structured=False) == DATA


def test_structured_mode_gives_the_events_data_where_allowed() -> None:
    headers = {"content-type": "application/cloudevents+json; charset=utf-8"}
    assert read_event(headers, structured(), structured=True) == DATA


@pytest.mark.parametrize(
    ("headers", "body", "allowed", "code", "field"),
    [
        ({"content-type": "application/json"}, BODY, True, "not_a_cloudevent", "headers.ce_specversion"),
        ({}, BODY, True, "not_a_cloudevent", "headers.ce_specversion"),
        ({**cloudevent("t"), "ce_id": ""}, BODY, True, "invalid_cloudevent", "headers.ce_id"),
        ({k: v for k, v in cloudevent("t").items() if k != "ce_id"}, BODY, True, "missing_header", "headers.ce_id"),
        ({**cloudevent("t"), "ce_specversion": "0.3"}, BODY, True, "unsupported_specversion", "headers.ce_specversion"),
        ({**cloudevent("t"), "ce_time": "yesterday"}, BODY, True, "invalid_cloudevent", "headers.ce_time"),
        ({**cloudevent("t"), "content-type": "text/plain"}, BODY, True, "unsupported_content_type", "headers.content-type"),
        ({"content-type": "application/cloudevents+json"}, structured(), False, "structured_mode_not_accepted", "headers.content-type"),
        ({"content-type": "application/cloudevents+json"}, structured(id=None) .replace(b'"id": null, ', b""), True, "missing_attribute", "id"),
        ({"content-type": "application/cloudevents+json"}, b'{"specversion": "1.0", "id": "1", "source": "s", "type": "t"}', True, "missing_attribute", "data"),
        ({"content-type": "application/cloudevents+json"}, b"[1]", True, "invalid_cloudevent", "specversion"),
    ],
    ids=[
        "json-without-ce", "no-headers", "empty-id", "missing-id", "specversion-0.3", "bad-time",
        "not-json-content", "structured-on-internal-topic", "structured-without-id",
        "structured-without-data", "structured-not-an-object",
    ],
)  # fmt: skip
def test_anything_else_is_refused_naming_the_header_or_attribute(
    headers: dict[str, str], body: bytes, allowed: bool, code: str, field: str
) -> None:
    with pytest.raises(EnvelopeRefused) as refused:
        read_event(headers, body, structured=allowed)
    assert (refused.value.code, refused.value.field) == (code, field)


@pytest.mark.parametrize("body", [b"\xff\xfe{", b"{not json", b"[" * 5000])
def test_a_body_that_is_not_json_is_undecodable(body: bytes) -> None:
    with pytest.raises(UndecodableBody):
        read_event(cloudevent("t"), body, structured=True)


def test_ops_sees_referral_ids_as_they_are_and_anything_else_as_a_digest() -> None:
    rid = str(uuid4())
    assert safe_key(rid.encode()) == rid
    assert safe_key(b"Sam Example") == digest(b"Sam Example")
    assert safe_key(b"\xff\xfe").startswith("sha256:")  # type: ignore[union-attr]
    assert safe_id(f"decided:{rid}") == f"decided:{rid}"
    assert safe_id("sam.example@mail.example") == digest("sam.example@mail.example")


def test_a_field_path_keeps_contract_names_and_marks_any_other() -> None:
    assert (
        safe_field("referral.submission.victim.postcode") == "referral.submission.victim.postcode"
    )
    assert safe_field("victim.Sam_Example_lives_at_NG7") == "victim.unknown_field"
    assert safe_field("conduct.behaviours[2]") == "conduct.behaviours.2"
    assert safe_field("headers.agency-id") == "headers.agency-id"
    assert safe_field("headers.x-secret-name") == "headers.unknown_field"


async def test_a_burst_of_dead_letters_is_one_alert_now_and_one_counted_alert_later() -> None:
    sent: list[OpsAlert] = []

    async def publish(alert: OpsAlert) -> None:
        sent.append(alert)

    alerts = DeadLetterAlerts(Service.ROUTER, publish, window_seconds=0.2)
    for _ in range(5):
        await alerts.dead_lettered(REFERRALS_RECEIVED, "unparseable_json")
    assert [(a.kind.value, a.count, a.topic) for a in sent] == [
        ("dead_lettered", 1, REFERRALS_RECEIVED)
    ]
    await asyncio.sleep(0.4)
    assert [a.count for a in sent] == [1, 4]
    await alerts.dead_lettered(REFERRALS_RECEIVED, "validation_failed")  # a new window
    assert [(a.count, a.reason_code) for a in sent][-1] == (1, "validation_failed")


async def test_a_response_that_is_not_a_cloudevent_is_dead_lettered_and_alerted_not_applied() -> (
    None
):
    broker = make_broker("127.0.0.1:1", client_id="wiring")
    broker.add_middleware(dead_letter_middleware(Service.PROVIDER_GATEWAY, lambda: broker))
    applied: list[ProviderResponse] = []
    letters: list[tuple[bytes | None, dict[str, str], dict[str, Any]]] = []
    alerts: list[dict[str, Any]] = []

    @durable_subscriber(broker, ASSIGNMENTS_RESPONSES, group_id="g", title="responses")
    async def on_response(response: ProviderResponse) -> None:
        applied.append(response)

    @broker.subscriber(OPS_DEADLETTER, group_id="ops")
    async def on_letter(letter: dict[str, Any], msg: KafkaMessage) -> None:
        letters.append((getattr(msg.raw_message, "key", None), msg.headers, letter))

    @broker.subscriber(OPS_ALERTS, group_id="ops-alerts")
    async def on_alert(alert: dict[str, Any]) -> None:
        alerts.append(alert)

    rid = str(uuid4())
    answer = {
        "referral_id": rid,
        "provider": "juno",
        "status": "accepted",
        "reason": None,
        "at": "2026-11-20T10:15:00+00:00",
    }
    event = {"specversion": "1.0", "id": "r-1", "source": "urn:juno", "type": TYPE_RESPONSE}
    async with TestKafkaBroker(broker) as test_broker:
        plain = {"content-type": "application/json"}
        await test_broker.publish(answer, topic=ASSIGNMENTS_RESPONSES, key=b"Sam", headers=plain)
        await test_broker.publish(
            {**answer, "Sam_Example": 1},
            topic=ASSIGNMENTS_RESPONSES,
            key=rid.encode(),
            headers=cloudevent(TYPE_RESPONSE),
        )
        await test_broker.publish(
            json.dumps(event | {"data": answer}).encode(),
            topic=ASSIGNMENTS_RESPONSES,
            key=rid.encode(),
            headers={"content-type": "application/cloudevents+json"},
        )

    assert [str(r.referral_id) for r in applied] == [rid]  # only the structured-mode one
    first, second = (letter for _, _, letter in letters)
    assert (first["reason_code"], first["error_fields"]) == (
        "not_a_cloudevent",
        ["headers.ce_specversion"],
    )
    assert (second["reason_code"], second["error_fields"]) == (
        "validation_failed",
        ["response.unknown_field"],
    )
    key, headers, _ = letters[0]
    assert key == digest(b"Sam").encode()
    assert headers["ce_subject"] == digest(b"Sam")
    assert "Sam" not in json.dumps([[h, letter] for _, h, letter in letters])
    assert [(a["kind"], a["topic"], a["count"]) for a in alerts] == [
        ("dead_lettered", ASSIGNMENTS_RESPONSES, 1)
    ]
