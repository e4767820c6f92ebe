"""The transactional outbox, for any service: queue a message in a transaction, relay it later.

Rules kept here:
- a message is queued as a row of the service's outbox table in the caller's transaction, with
  a NOTIFY on the table's channel, so it is published if and only if that transaction commits
  (no commit-then-publish);
- a row keeps the trace context it was queued in (`traceparent` among its headers), and is
  published carrying that context, so the trace runs on through the wait in the table;
- a publication waits for Kafka's acknowledgement (acks=all, idempotent producer);
- the table and column names come from code (`OutboxTable`), never from input, and are checked
  to be plain SQL identifiers before any SQL is built from them.
The relay that moves committed rows to Kafka is `outbox_relay.py`, its publisher `outbox_kafka.py`.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import asyncpg
import structlog
from faststream.kafka import KafkaBroker

from services.common.telemetry import current_trace_headers

log = structlog.get_logger(__name__)

_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]*$")


@dataclass(frozen=True)
class OutboxMessage:
    """One message as it will be published."""

    topic: str
    key: str | None
    headers: dict[str, str]
    payload: bytes


@dataclass(frozen=True)
class OutboxTable:
    """Where a service keeps its outbox, and the channel NOTIFY-ed when a row is added."""

    channel: str
    table: str = "outbox"
    id_column: str = "outbox_id"
    topic_column: str = "topic"
    key_column: str = "message_key"
    headers_column: str = "headers"
    payload_column: str = "payload"
    sent_column: str = "sent_at"
    created_column: str = "created_at"
    attempts_column: str | None = None  # counted up on each publication, when the table has one

    def __post_init__(self) -> None:
        names = [
            self.table,
            self.id_column,
            self.topic_column,
            self.key_column,
            self.headers_column,
            self.payload_column,
            self.sent_column,
            self.created_column,
        ]
        if self.attempts_column is not None:
            names.append(self.attempts_column)
        bad = [n for n in names if not _IDENTIFIER.match(n)]
        if bad:
            raise ValueError(f"not plain SQL identifiers: {bad}")

    @property
    def insert_sql(self) -> str:
        return (
            f"INSERT INTO {self.table} ({self.topic_column}, {self.key_column},"  # noqa: S608 - checked identifiers
            f" {self.headers_column}, {self.payload_column}) VALUES ($1, $2, $3, $4)"
        )

    @property
    def claim_sql(self) -> str:
        return (
            f"SELECT {self.id_column} AS id, {self.topic_column} AS topic,"  # noqa: S608 - checked identifiers
            f" {self.key_column} AS key, {self.headers_column} AS headers,"
            f" {self.payload_column} AS payload FROM {self.table}"
            f" WHERE {self.sent_column} IS NULL ORDER BY {self.id_column}"
            " LIMIT $1 FOR UPDATE SKIP LOCKED"
        )

    @property
    def mark_sent_sql(self) -> str:
        attempts = (
            f", {self.attempts_column} = {self.attempts_column} + 1" if self.attempts_column else ""
        )
        return (
            f"UPDATE {self.table} SET {self.sent_column} = now(){attempts}"  # noqa: S608 - checked identifiers
            f" WHERE {self.id_column} = ANY($1::bigint[])"
        )

    @property
    def count_attempt_sql(self) -> str | None:
        """Counts an unacknowledged attempt; None when the table keeps no count."""
        if self.attempts_column is None:
            return None
        return (
            f"UPDATE {self.table} SET {self.attempts_column} = {self.attempts_column} + 1"  # noqa: S608 - checked identifiers
            f" WHERE {self.id_column} = ANY($1::bigint[])"
        )

    @property
    def unsent_events_sql(self) -> str:
        """The oldest unsent rows' topics, event ids and times (the relay's recovery)."""
        return (
            f"SELECT {self.id_column} AS id, {self.topic_column} AS topic,"  # noqa: S608 - checked identifiers
            f" {self.headers_column}->>'ce_id' AS ce_id, {self.created_column} AS created_at"
            f" FROM {self.table} WHERE {self.sent_column} IS NULL ORDER BY {self.id_column}"
            " LIMIT $1"
        )

    @property
    def mark_unsent_sent_sql(self) -> str:
        """`mark_sent_sql` for the rows that are still unsent (the relay's recovery)."""
        return f"{self.mark_sent_sql} AND {self.sent_column} IS NULL"

    @property
    def backlog_sql(self) -> str:
        return f"SELECT count(*) FROM {self.table} WHERE {self.sent_column} IS NULL"  # noqa: S608 - checked identifiers


def in_current_trace(message: OutboxMessage) -> OutboxMessage:
    """`message` carrying the trace context current now (unless its headers name one)."""
    headers = current_trace_headers() | message.headers
    return OutboxMessage(message.topic, message.key, headers, message.payload)


async def enqueue(conn: asyncpg.Connection, table: OutboxTable, message: OutboxMessage) -> None:
    """Queue `message` in the caller's transaction; it is published once that commits."""
    m = in_current_trace(message)
    await conn.execute(table.insert_sql, m.topic, m.key, m.headers, m.payload)
    await conn.execute("SELECT pg_notify($1, '')", table.channel)


async def enqueue_all(
    conn: asyncpg.Connection, table: OutboxTable, messages: list[OutboxMessage]
) -> None:
    """Queue `messages` as they are (held back by a batch's transaction, each already
    `in_current_trace` of its own record) in one pipelined statement, and wake the relay once."""
    if not messages:
        return
    rows = [(m.topic, m.key, m.headers, m.payload) for m in messages]
    await conn.executemany(table.insert_sql, rows)
    await conn.execute("SELECT pg_notify($1, '')", table.channel)


Publish = Callable[[OutboxMessage], Awaitable[None]]


@dataclass
class BatchRecord:
    """What became of each message of a relay batch, by topic: `done(message, None)` once
    acknowledged, `done(message, "<exception type>")` once it failed or was given up."""

    outcomes: dict[str, Counter[str | None]] = field(default_factory=dict)

    def done(self, message: OutboxMessage, error: str | None) -> None:
        self.outcomes.setdefault(message.topic, Counter())[error] += 1


@runtime_checkable
class ObservedPublish(Protocol):
    """A `Publish` that observes a relay batch as a whole: the relay opens `observe(messages)`
    around the batch and tells the record each message's outcome (`outbox_kafka`: one span
    and one metrics update per topic, instead of one per message)."""

    async def __call__(self, message: OutboxMessage, /) -> None: ...

    def observe(self, messages: Sequence[OutboxMessage]) -> AbstractContextManager[BatchRecord]: ...


def kafka_publisher(broker: KafkaBroker, *, timeout_seconds: float | None = None) -> Publish:
    """Publish through `broker`'s producer, waiting for its ack (at most `timeout_seconds`, if
    given), each message in the trace its row was queued in (`outbox_kafka`: below FastStream's
    per-publish middleware; the relay observes a batch once, with `observe`)."""
    # Imported here: outbox_kafka builds on this module's OutboxMessage.
    from services.common.outbox_kafka import KafkaOutboxPublisher

    return KafkaOutboxPublisher(broker, timeout_seconds=timeout_seconds)
