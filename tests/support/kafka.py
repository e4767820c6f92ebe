"""Reading and writing real Kafka topics in tests (aiokafka, loopback only).

The broker is secured (TLS, SASL/SCRAM, ACLs): every client the tests make connects as the
`tooling` principal, whose settings `scripts/stack_env.sh` writes into `$DEV_DIR/stack.env`
(`connection()` for aiokafka, `tooling()` for FastStream's `make_broker`).

The one Kafka reader of the tests: `collect` reads a topic from the beginning until what a
test waits for is there; `end_offsets` marks where topics end now and `read_since` reads every
message from such a mark up to the end (raw: key, headers and value as bytes); `produce` and
`cloudevent` write a test's own messages.
"""

from __future__ import annotations

import functools
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import uuid4

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from services.common.kafka_consumer import stop_consumer
from services.common.kafka_security import KafkaSecurity
from shared import ce_headers
from tests.support.infra import DEV, read_env

PARTITIONS = 3  # scripts/create_topics.sh


@functools.cache
def tooling() -> KafkaSecurity:
    """The `tooling` principal's TLS and SCRAM settings, from the stack's environment."""
    return KafkaSecurity.from_env(environ=read_env(DEV / "stack.env"))


def connection() -> dict[str, Any]:
    """aiokafka keyword arguments (TLS, SCRAM) of the `tooling` principal."""
    return tooling().aiokafka_kwargs()


@dataclass(frozen=True)
class Message:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    headers: tuple[tuple[str, bytes], ...]
    value: bytes

    def text(self) -> str:
        parts = [self.key.decode(errors="replace") if self.key else ""]
        parts += [f"{k}={v.decode(errors='replace')}" for k, v in self.headers]
        parts.append(self.value.decode(errors="replace"))
        return "\n".join(parts)


@dataclass(frozen=True)
class Record:
    topic: str
    key: str | None
    headers: dict[str, str]
    value: bytes

    def json(self) -> Any:
        return json.loads(self.value)


async def collect(
    bootstrap: str,
    topic: str,
    keep: Callable[[Record], bool],
    *,
    until: Callable[[list[Record]], bool],
    timeout: float = 60.0,
    settle: float = 0.0,
) -> list[Record]:
    """Read `topic` from the beginning until `until(kept)` holds (then `settle` s more) or timeout."""
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=f"test-{uuid4().hex}",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        **connection(),
    )
    await consumer.start()
    kept: list[Record] = []
    deadline = time.monotonic() + timeout
    settle_until: float | None = None
    try:
        while time.monotonic() < deadline:
            batches = await consumer.getmany(timeout_ms=500)
            for messages in batches.values():
                for m in messages:
                    record = Record(
                        m.topic,
                        # The edge tests and the fuzzer put undecodable bytes on these topics.
                        m.key.decode(errors="replace") if m.key else None,
                        {k: (v or b"").decode(errors="replace") for k, v in (m.headers or ())},
                        m.value or b"",
                    )
                    if _keeps(keep, record):
                        kept.append(record)
            if settle_until is None and until(kept):
                settle_until = time.monotonic() + settle
            if settle_until is not None and time.monotonic() >= settle_until:
                break
    finally:
        await stop_consumer(consumer)
    return kept


def cloudevent(ce_type: str, *, subject: str | None = None, **extra: str) -> dict[str, str]:
    """CloudEvents binary-mode headers (and any `extra` headers) for a test's message."""
    headers = ce_headers(
        type=ce_type, source="urn:nottssas:tests", time=datetime.now(UTC), subject=subject
    )
    return headers | {k.replace("_", "-"): v for k, v in extra.items()}


def _keeps(keep: Callable[[Record], bool], record: Record) -> bool:
    """Topics are shared by every test, and some tests put poison on them on purpose:
    a record the predicate cannot read (not JSON, another shape) is simply not ours."""
    try:
        return keep(record)
    except (ValueError, KeyError, TypeError, AttributeError):  # JSONDecodeError is a ValueError
        return False


async def produce(
    bootstrap: str,
    topic: str,
    value: bytes,
    *,
    key: str | None = None,
    headers: dict[str, str] | None = None,
) -> None:
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, acks="all", enable_idempotence=True, **connection()
    )
    await producer.start()
    try:
        await producer.send_and_wait(
            topic,
            value,
            key=key.encode() if key else None,
            headers=[(k, v.encode()) for k, v in (headers or {}).items()],
        )
    finally:
        await producer.stop()


async def end_offsets(bootstrap: str, topics: tuple[str, ...]) -> dict[TopicPartition, int]:
    """Where each partition of `topics` ends now (a mark for `read_since`)."""
    return await _offsets(bootstrap, topics, first=False)


async def start_offsets(bootstrap: str, topics: tuple[str, ...]) -> dict[TopicPartition, int]:
    """Where each partition of `topics` begins (what retention has kept): `read_since` from
    these reads everything the topics hold."""
    return await _offsets(bootstrap, topics, first=True)


async def _offsets(
    bootstrap: str, topics: tuple[str, ...], *, first: bool
) -> dict[TopicPartition, int]:
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, enable_auto_commit=False, **connection()
    )
    await consumer.start()
    try:
        tps = [TopicPartition(t, p) for t in topics for p in range(PARTITIONS)]
        found = await (consumer.beginning_offsets(tps) if first else consumer.end_offsets(tps))
        return dict(found)
    finally:
        await stop_consumer(consumer)


async def read_since(bootstrap: str, start: dict[TopicPartition, int]) -> list[Message]:
    """Every message from `start` up to the current end of each partition."""
    ends = await end_offsets(bootstrap, tuple(sorted({tp.topic for tp in start})))
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, enable_auto_commit=False, **connection()
    )
    await consumer.start()
    out: list[Message] = []
    try:
        consumer.assign(list(start))
        for tp, offset in start.items():
            consumer.seek(tp, offset)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            positions = {tp: await consumer.position(tp) for tp in start}
            if all(positions[tp] >= ends[tp] for tp in start):
                break
            for tp, messages in (await consumer.getmany(timeout_ms=500)).items():
                out.extend(
                    Message(
                        tp.topic,
                        tp.partition,
                        m.offset,
                        m.key,
                        tuple(m.headers or ()),
                        m.value or b"",
                    )
                    for m in messages
                    if m.offset < ends[tp]
                )
    finally:
        await stop_consumer(consumer)
    return out
