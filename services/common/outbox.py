"""The transactional outbox, for any service: queue a message in a transaction, relay it later.

Rules kept here:
- a message is queued as a row of the service's outbox table in the caller's transaction, with
  a NOTIFY on the table's channel, so it is published if and only if that transaction commits
  (no commit-then-publish);
- the relay claims unsent rows in id order with `FOR UPDATE SKIP LOCKED` (several replicas never
  publish one row at once), publishes them, and marks them sent only after Kafka acknowledged
  every one; on any failure the transaction rolls back and the rows are tried again
  (at-least-once: each message carries a stable id in its `ce_id` header, consumers dedupe);
- published one at a time in id order unless the service chose `concurrent`, so that one key's
  messages reach Kafka in the order they were committed;
- the table and column names come from code (`OutboxTable`), never from input, and are checked
  to be plain SQL identifiers before any SQL is built from them.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import asyncpg
import structlog
from faststream.kafka import KafkaBroker

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
    def backlog_sql(self) -> str:
        return f"SELECT count(*) FROM {self.table} WHERE {self.sent_column} IS NULL"  # noqa: S608 - checked identifiers


async def enqueue(conn: asyncpg.Connection, table: OutboxTable, message: OutboxMessage) -> None:
    """Queue `message` in the caller's transaction; it is published once that commits."""
    await conn.execute(
        table.insert_sql, message.topic, message.key, message.headers, message.payload
    )
    await conn.execute("SELECT pg_notify($1, '')", table.channel)


Publish = Callable[[OutboxMessage], Awaitable[None]]


def kafka_publisher(broker: KafkaBroker, *, timeout_seconds: float | None = None) -> Publish:
    """Publish through `broker`, waiting for its ack (at most `timeout_seconds`, if given)."""

    async def publish(message: OutboxMessage) -> None:
        sent = broker.publish(
            message.payload,
            topic=message.topic,
            key=message.key.encode() if message.key else None,
            headers=message.headers,
        )
        await asyncio.wait_for(sent, timeout=timeout_seconds)

    return publish


class OutboxRelay:
    """Moves committed outbox rows to Kafka, a batch at a time."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        table: OutboxTable,
        publish: Publish,
        *,
        batch_size: int = 200,
        concurrent: bool = False,
    ) -> None:
        self._pool = pool
        self._table = table
        self._publish = publish
        self._batch_size = batch_size
        self._concurrent = concurrent
        self._wake = asyncio.Event()
        self.published_total = 0

    def wake(self, *_: Any) -> None:
        """A NOTIFY callback: there may be rows to publish."""
        self._wake.set()

    async def drain_once(self) -> int:
        """Publish one batch of unsent rows; returns how many were published."""
        async with self._pool.acquire() as conn, conn.transaction():
            rows = await conn.fetch(self._table.claim_sql, self._batch_size)
            if not rows:
                return 0
            messages = [
                OutboxMessage(r["topic"], r["key"], r["headers"], r["payload"]) for r in rows
            ]
            if self._concurrent:
                await asyncio.gather(*(self._publish(m) for m in messages))
            else:
                for message in messages:
                    await self._publish(message)
            await conn.execute(self._table.mark_sent_sql, [r["id"] for r in rows])
        self.published_total += len(rows)
        return len(rows)

    async def backlog(self) -> int:
        """How many rows wait to be published."""
        count: int = await self._pool.fetchval(self._table.backlog_sql)
        return count

    async def run(
        self,
        *,
        ready: Callable[[], bool] = lambda: True,
        idle_poll_seconds: float = 2.0,
        max_backoff_seconds: float = 10.0,
    ) -> None:
        """Drain until cancelled: woken by NOTIFY, polling when idle, backing off on failure.

        `ready` says whether to publish at all (e.g. whether the broker has connected).
        """
        listener = await self._pool.acquire()
        await listener.add_listener(self._table.channel, self.wake)
        backoff = 0.5
        try:
            while True:
                # Cleared before draining, so a NOTIFY that lands during the drain is not lost.
                self._wake.clear()
                try:
                    published = await self.drain_once() if ready() else 0
                except Exception as exc:  # noqa: BLE001 - database or Kafka away: wait, retry
                    log.warning("outbox relay: will retry", error=type(exc).__name__)
                    await asyncio.sleep(backoff)
                    backoff = min(backoff * 2, max_backoff_seconds)
                    continue
                backoff = 0.5
                if published:
                    continue
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), timeout=idle_poll_seconds)
        finally:
            with contextlib.suppress(Exception):
                await listener.remove_listener(self._table.channel, self.wake)
            await self._pool.release(listener)
