"""Headers that cannot be decoded, on the real broker (the in-memory one only takes text headers).

Rules checked:
- a record whose header value is not UTF-8 (`agency-id` = FF FE, `ce_id` = FF), or whose
  `ce_id` is sent twice, is dead-lettered by reference with its reason and raises a
  `dead_lettered` alert; it is acknowledged, and the next record is handled;
- none of the bytes of such a record reaches a log line.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any
from uuid import uuid4

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from services.common.kafka import dead_letter_middleware, durable_subscriber, make_broker
from shared import Service
from shared.topics import OPS_ALERTS, OPS_DEADLETTER
from tests.support.kafka import Record, cloudevent, collect, connection, tooling

pytestmark = pytest.mark.integration

RUN = uuid4().hex[:8]
# A topic of its own: a new consumer group reads from the earliest offset, and the shared
# topics hold every earlier run's poison (and every other service's dead letters of it).
TOPIC = f"assignments.responses.edge-{RUN}"
MARKER = "EDGEMARK" + uuid4().hex[:8]


async def test_undecodable_or_duplicated_headers_are_dead_lettered_and_the_consumer_goes_on(
    stack_env: dict[str, str], capfd: pytest.CaptureFixture[str]
) -> None:
    bootstrap = stack_env["KAFKA_BOOTSTRAP_SERVERS"]
    broker = make_broker(bootstrap, client_id=f"edge-{RUN}", security=tooling())
    broker.add_middleware(dead_letter_middleware(Service.PROVIDER_GATEWAY, lambda: broker))
    handled: list[dict[str, Any]] = []

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, **connection())
    await admin.start()
    try:
        await admin.create_topics([NewTopic(TOPIC, num_partitions=1, replication_factor=1)])
    finally:
        await admin.close()

    @durable_subscriber(broker, TOPIC, group_id=f"edge-{RUN}", title="t")
    async def on_response(body: dict[str, Any]) -> None:
        if body.get("marker") == MARKER:
            handled.append(body)

    good = [(k, v.encode()) for k, v in cloudevent("t").items()]
    body = json.dumps({"marker": MARKER, "victim": f"{MARKER} Sam"}).encode()
    poison = [
        [*good, ("agency-id", b"\xff\xfe" + MARKER.encode())],
        [*(h for h in good if h[0] != "ce_id"), ("ce_id", b"\xff" + MARKER.encode())],
        [*good, ("ce_id", f"{MARKER}-again".encode())],
    ]
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, acks="all", enable_idempotence=True, **connection()
    )
    await producer.start()
    await broker.start()
    try:
        offsets = []
        for headers in [*poison, good]:
            meta = await producer.send_and_wait(
                TOPIC, body, key=MARKER.encode(), partition=0, headers=headers
            )
            offsets.append(meta.offset)
        for _ in range(120):
            if handled:
                break
            await asyncio.sleep(0.5)
    finally:
        await producer.stop()
        await broker.stop()

    assert len(handled) == 1

    def ours(r: Record) -> bool:
        return bool(
            r.json().get("source_topic") == TOPIC and r.json().get("source_offset") in offsets[:3]
        )

    letters = await collect(
        bootstrap, OPS_DEADLETTER, ours, until=lambda kept: len(kept) >= 3, timeout=30
    )
    reasons = sorted((r.json()["reason_code"], *r.json()["error_fields"]) for r in letters)
    assert reasons == [
        ("duplicate_header", "headers.ce_id"),
        ("header_not_utf8", "headers.agency-id"),
        ("header_not_utf8", "headers.ce_id"),
    ]
    alerts = await collect(
        bootstrap,
        OPS_ALERTS,
        lambda r: r.json()["kind"] == "dead_lettered" and r.json()["topic"] == TOPIC,
        until=lambda kept: len(kept) >= 1,
        timeout=30,
    )
    assert alerts
    logged = capfd.readouterr()
    assert MARKER not in logged.out + logged.err
    assert all(MARKER not in json.dumps([r.key, r.headers, r.json()]) for r in letters)
