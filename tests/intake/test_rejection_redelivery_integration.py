"""A rejected Kafka submission redelivered, on the real broker and PostgreSQL, with intake as
a real process stopped and started again.

Rule checked: a rejection is written to intake's outbox with the record it answers, under an
id derived from that record (topic, partition, offset), in the transaction that notes the id
(`rejections`). So when the same record is delivered again (here: the consumer group rewound to
it, as after a crash between the commit of the rejection and the commit of the offset), intake
answers nothing more: exactly one event, with one id, on `referrals.rejected.v1`, and one on
`ops.events.v1`. Before issue 12 each delivery was published straight to Kafka with a random id.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from uuid import UUID

import asyncpg
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from services.intake.domain.rejection import ops_rejection_id
from shared.topics import OPS_EVENTS, REFERRALS_SUBMITTED
from tests.intake.ingress import PARTITION, fresh, rejected, send, start_intake
from tests.support.kafka import collect, connection

pytestmark = pytest.mark.integration

GROUP = "intake-submissions"  # the shared topic's consumer group (services/intake/subscribers.py)


async def rewind(bootstrap: str, offset: int) -> int:
    """Commit `offset` for intake's group on the test's partition (no member may be running);
    returns the group's committed offset read back."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, group_id=GROUP, enable_auto_commit=False, **connection()
    )
    await consumer.start()
    try:
        partition = TopicPartition(REFERRALS_SUBMITTED, PARTITION)
        consumer.assign([partition])
        await consumer.commit({partition: offset})
        committed: int = await consumer.committed(partition)
        return committed
    finally:
        await consumer.stop()


async def test_a_rejected_submission_delivered_again_is_answered_once_under_one_id(
    stack_env: dict[str, str],
    producer: AIOKafkaProducer,
    db: asyncpg.Connection,
    example_submission: dict[str, Any],
    tmp_path: Path,
) -> None:
    bootstrap = stack_env["KAFKA_BOOTSTRAP_SERVERS"]
    bad, marker = fresh(example_submission, "RD"), fresh(example_submission, "RD")
    bad["victim"]["postcode"] = marker["victim"]["postcode"] = "nope"

    first = start_intake(stack_env, tmp_path)
    try:
        offset = await send(producer, bad, key=bad["submission_id"])
        [answer] = await rejected(bootstrap, bad["submission_id"])
    finally:
        first.stop()  # graceful: the offset after `bad` is committed
    assert await rewind(bootstrap, offset) == offset, "the group was not rewound"

    again = start_intake(stack_env, tmp_path)
    try:
        # The marker comes after `bad` on the partition: once it is answered, `bad` has been
        # handled again by the second process.
        await send(producer, marker, key=marker["submission_id"])
        assert await rejected(bootstrap, marker["submission_id"])
        answers = await rejected(bootstrap, bad["submission_id"], settle=2.0)
    finally:
        again.stop()

    assert [r.headers["ce_id"] for r in answers] == [answer.headers["ce_id"]]
    ops_id = str(ops_rejection_id(UUID(answer.headers["ce_id"])))
    ops = await collect(
        bootstrap,
        OPS_EVENTS,
        lambda r: r.headers.get("ce_id") == ops_id,
        until=lambda kept: len(kept) >= 1,
        timeout=30,
        settle=1.0,
    )
    assert len(ops) == 1
    noted = await db.fetchval(
        "SELECT count(*) FROM rejections WHERE rejection_id = $1::uuid", answer.headers["ce_id"]
    )
    assert noted == 1
