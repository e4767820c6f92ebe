"""The gateway's batches as a real process on the real Kafka broker and PostgreSQL.

Rules shown here (subscribers.py, adapters/referral_batch.py):
- a backlog waiting for the gateway is taken in batches: the one decision of it that is not
  JSON is dead-lettered with its reason, once, and every other referral gets one assignment and
  one webhook at the receiver;
- the same records consumed again (the gateway stopped after its commit and before its offset
  commit, simulated by rewinding both groups' offsets while it is stopped) make no second
  assignment and send nothing again: one webhook-id per referral, received once.

The gateway's consumer groups are fixed; these tests need a stack nobody else consumes from
(see DEV_DIR in tests/support/infra.py). They fail, never skip, without Kafka and PostgreSQL.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from services.common.edge import digest
from shared.cloudevents import TYPE_DECIDED, TYPE_RECEIVED
from shared.topics import OPS_DEADLETTER, REFERRALS_DECIDED, REFERRALS_RECEIVED
from tests.provider_gateway.gateway_harness import rows
from tests.provider_gateway.gateway_processes import processes
from tests.provider_gateway.gateway_samples import decision_for, received_event
from tests.support.kafka import cloudevent, collect, connection

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

GROUPS = {REFERRALS_RECEIVED: "provider-gateway-received", REFERRALS_DECIDED: "provider-gateway-decisions"}  # fmt: skip
GOOD = 12
Offsets = dict[TopicPartition, int]


async def _send(bootstrap: str, records: list[tuple[str, str, bytes, dict[str, str]]]) -> Offsets:
    """Publish (topic, key, value, headers); the first offset sent to each partition."""
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, acks="all", enable_idempotence=True, **connection()
    )
    await producer.start()
    try:
        futures = [
            await producer.send(
                topic, value, key=key.encode(), headers=[(k, v.encode()) for k, v in h.items()]
            )
            for topic, key, value, h in records
        ]
        sent: Offsets = {}
        for future in futures:
            meta = await future
            tp = TopicPartition(meta.topic, meta.partition)
            sent[tp] = min(sent.get(tp, meta.offset), meta.offset)
        return sent
    finally:
        await producer.stop()


async def _commit(bootstrap: str, topic: str, offsets: Offsets | None = None) -> None:
    """Commit the topic's gateway group to `offsets`, or to the end (earlier runs' records are
    not this test's). The gateway must be stopped."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, group_id=GROUPS[topic], enable_auto_commit=False,
        **connection(),
    )  # fmt: skip
    await consumer.start()
    try:
        if offsets is None:
            metadata = await consumer._client.fetch_all_metadata()
            tps = [TopicPartition(topic, p) for p in metadata.partitions_for_topic(topic) or ()]
            offsets = dict(await consumer.end_offsets(tps))
        consumer.assign(list(offsets))
        await consumer.commit(dict(offsets))
    finally:
        await consumer.stop()


async def _stored(dsn: str, ids: list[UUID]) -> tuple[int, int, int]:
    """(assignments, webhook deliveries, webhook attempts) of `ids`."""
    (found,) = await rows(
        dsn,
        "SELECT count(DISTINCT a.assignment_id) AS a, count(d.*) AS d,"
        " coalesce(sum(d.attempts), 0) AS t FROM assignments a LEFT JOIN deliveries d"
        " ON d.assignment_id = a.assignment_id AND d.channel = 'webhook'"
        " WHERE a.referral_id = ANY($1::uuid[])",
        ids,
    )
    return int(found["a"]), int(found["d"]), int(found["t"])


def _batch_lines(log: str) -> list[dict[str, Any]]:
    return [
        json.loads(line)
        for line in log.splitlines()
        if re.search(r'"event": ?"referral halves stored"', line)
    ]


def test_a_backlog_in_batches_dead_letters_its_bad_record_alone_and_a_redelivery_sends_nothing(
    stack_env: dict[str, str], tmp_path: Path
) -> None:
    bootstrap = stack_env["KAFKA_BOOTSTRAP_SERVERS"]
    ids = [uuid4() for _ in range(GOOD)]
    bad_key = f"bad-{uuid4().hex[:8]}"
    details = [
        (REFERRALS_RECEIVED, str(r), received_event(r).model_dump_json().encode(),
         cloudevent(TYPE_RECEIVED)) for r in ids
    ]  # fmt: skip
    decisions = [
        (REFERRALS_DECIDED, str(r), decision_for(r, ("nwa", "juno", "equation")[n % 3])
         .model_dump_json().encode(), cloudevent(TYPE_DECIDED)) for n, r in enumerate(ids)
    ]  # fmt: skip
    decisions.insert(GOOD // 2, (REFERRALS_DECIDED, bad_key, b"\xff not json", cloudevent(TYPE_DECIDED)))  # fmt: skip
    with processes(stack_env, tmp_path, GATEWAY_DELIVERY_POLL_SECONDS="0.2") as running:
        for topic in GROUPS:  # the backlog waits while no gateway runs: it is taken in batches
            asyncio.run(_commit(bootstrap, topic))
        sent = asyncio.run(_send(bootstrap, details + decisions))
        running.gateway.start().wait_ready()
        got = running.wait_received(ids, at_least=GOOD)
        assert all(d["count"] == 1 for d in got.values())
        letters = asyncio.run(
            collect(bootstrap, OPS_DEADLETTER, lambda r: r.key == digest(bad_key),
                    until=lambda kept: len(kept) >= 1, timeout=60, settle=3.0)
        )  # fmt: skip
        assert [r.json()["reason_code"] for r in letters] == ["unparseable_json"]
        assert asyncio.run(_stored(running.dsn, ids)) == (GOOD, GOOD, GOOD)
        lines = _batch_lines(running.gateway.tail(5000))
        assert any(line["dead_lettered"] == 1 and line["batch"] > 1 for line in lines), lines

        # Consumed again from the same offsets, as after a kill between commit and offset commit.
        running.gateway.stop()
        before = len(_batch_lines(running.gateway.tail(5000)))
        for topic in GROUPS:
            asyncio.run(_commit(bootstrap, topic, {tp: o for tp, o in sent.items() if tp.topic == topic}))  # fmt: skip
        running.gateway.start().wait_ready()
        again = asyncio.run(
            collect(bootstrap, OPS_DEADLETTER, lambda r: r.key == digest(bad_key),
                    until=lambda kept: len(kept) >= 2, timeout=60)
        )  # fmt: skip
        assert len(again) == 2, "the bad record came round again, and was refused again"
        deadline = time.monotonic() + 30  # both halves of the backlog consumed again
        while sum(int(ln["batch"]) for ln in _batch_lines(running.gateway.tail(5000))[before:]) < 2 * GOOD + 1:  # fmt: skip
            assert time.monotonic() < deadline, running.gateway.tail()
            time.sleep(0.2)
        time.sleep(1.0)  # a delivery the redelivery had made would be sent within this
        assert asyncio.run(_stored(running.dsn, ids)) == (GOOD, GOOD, GOOD), "nothing new"
        assert all(d["count"] == 1 for d in running.received(ids).values())
