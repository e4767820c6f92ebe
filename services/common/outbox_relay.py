"""The outbox relay: moves committed outbox rows to Kafka, a batch at a time, until cancelled.

Rules kept here:
- the relay claims unsent rows in id order with `FOR UPDATE SKIP LOCKED`, so several relays
  (replicas) can run and no row is published by two of them at once;
- a row is marked sent only after Kafka has acknowledged it;
- a publisher that can observe a batch as a whole (`ObservedPublish`, the Kafka publisher of
  `outbox_kafka.py`) is told each row's outcome inside `observe`: one span and one metrics
  update per topic and batch, not per row;
- a batch's publishes are bounded by `publish_timeout_seconds`: a row not acknowledged in time
  (or whose publish failed) stays unsent and, when the table has an attempts column, has its
  attempt counted; the rows that were acknowledged are marked sent in the same transaction, and
  the relay pauses before trying the rest again (`OutboxPublishFailed`). So a Kafka outage
  delays delivery but loses nothing, and it never holds row locks or a transaction open for
  longer than the timeout (at-least-once: each message carries a stable id in its `ce_id`
  header, consumers dedupe);
- published one at a time in id order unless the service chose `concurrent`, so that one key's
  messages reach Kafka in the order they were committed: in order, the first failure stops the
  batch, and the rows behind it are not tried (nor counted) until it has gone out;
- `per_key` keeps that order for each (topic, key) and no other: each key's rows are published
  in id order, one at a time, the first failure stopping that key's rows only, while different
  keys' rows go concurrently (Kafka keeps order per partition, and a key is one partition);
- rows a killed predecessor published but never marked are marked sent before the broker starts
  (`outbox_recovery`, run by `runtime.BrokerStarter`), so this relay does not publish them again;
- LISTEN/NOTIFY wakes the relay as soon as a row commits, with the wake-up cleared before each
  drain so one landing during the drain is not lost; a slow poll backs it up in case a
  notification is missed (for example while the listening connection was being re-made).

Errors:
    OutboxPublishFailed   some rows of a batch were not acknowledged; they will be retried
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import asyncpg

from services.common.loops import listen, run_loop
from services.common.outbox import (
    BatchRecord,
    ObservedPublish,
    OutboxMessage,
    OutboxTable,
    Publish,
)


class OutboxPublishFailed(Exception):
    """Some rows of a batch were not acknowledged by Kafka in time; they stay unsent."""

    def __init__(self, *, sent: int, unsent: int, cause: str) -> None:
        super().__init__(f"{unsent} outbox rows not published ({cause}); {sent} published")
        self.sent = sent
        self.unsent = unsent
        self.cause = cause

    @property
    def log_fields(self) -> dict[str, object]:
        """What the relay's loop logs of this failure: counts and the cause's type name."""
        return {"cause": self.cause, "sent": self.sent, "unsent": self.unsent}


@dataclass(frozen=True)
class _BatchOutcome:
    acknowledged: list[int]
    tried_unacknowledged: list[int]
    unsent: int
    cause: str


class OutboxRelay:
    """Moves committed outbox rows to Kafka, a batch at a time; `run` until cancelled."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        table: OutboxTable,
        publish: Publish,
        *,
        batch_size: int = 200,
        concurrent: bool = False,
        publish_timeout_seconds: float = 10.0,
        per_key: bool = False,
    ) -> None:
        self._pool = pool
        self._table = table
        self._publish = publish
        self._batch_size = batch_size
        self._concurrent = concurrent
        self._per_key = per_key
        self._publish_timeout = publish_timeout_seconds
        self._wake = asyncio.Event()
        self.published_total = 0

    def wake(self, *_: Any) -> None:
        """A NOTIFY callback: there may be rows to publish."""
        self._wake.set()

    async def drain_once(self) -> int:
        """Publish one batch of unsent rows; returns how many were published.

        Raises OutboxPublishFailed (after committing what was published) if any row of the
        batch was not acknowledged within the publish timeout.
        """
        async with self._pool.acquire() as conn, conn.transaction():
            rows = await conn.fetch(self._table.claim_sql, self._batch_size)
            if not rows:
                return 0
            outcome = await self._publish_batch(
                [
                    (int(r["id"]), OutboxMessage(r["topic"], r["key"], r["headers"], r["payload"]))
                    for r in rows
                ]
            )
            if outcome.acknowledged:
                await conn.execute(self._table.mark_sent_sql, outcome.acknowledged)
            count_attempt = self._table.count_attempt_sql
            if count_attempt is not None and outcome.tried_unacknowledged:
                await conn.execute(count_attempt, outcome.tried_unacknowledged)
        sent = len(outcome.acknowledged)
        self.published_total += sent
        if outcome.unsent:
            raise OutboxPublishFailed(sent=sent, unsent=outcome.unsent, cause=outcome.cause)
        return sent

    async def _publish_batch(self, batch: list[tuple[int, OutboxMessage]]) -> _BatchOutcome:
        """Publish `batch` (in order, or concurrently), giving up after the publish timeout.

        The batch is observed as a whole when the publisher can (`ObservedPublish`: one span
        and one metrics update per topic), each row's outcome told to its record."""
        acknowledged: list[int] = []
        tried: set[int] = set()
        failures: list[str] = []
        failed: set[int] = set()
        messages = [m for _, m in batch]
        observe = self._publish.observe if isinstance(self._publish, ObservedPublish) else None

        async def publish_one(row_id: int, message: OutboxMessage, record: BatchRecord) -> None:
            tried.add(row_id)
            try:
                await self._publish(message)
            except Exception as exc:
                failures.append(type(exc).__name__)
                failed.add(row_id)
                record.done(message, type(exc).__name__)
                raise
            acknowledged.append(row_id)
            record.done(message, None)

        async def publish_in_order(
            rows: list[tuple[int, OutboxMessage]], record: BatchRecord
        ) -> None:
            for row_id, message in rows:
                await publish_one(row_id, message, record)  # the first failure stops these rows

        chains: dict[tuple[str, str | None], list[tuple[int, OutboxMessage]]] = {}
        for row_id, message in batch if self._per_key else ():
            chains.setdefault((message.topic, message.key), []).append((row_id, message))
        with observe(messages) if observe else contextlib.nullcontext(BatchRecord()) as record:
            if self._concurrent:
                tasks = [asyncio.ensure_future(publish_one(i, m, record)) for i, m in batch]
            elif self._per_key:
                tasks = [
                    asyncio.ensure_future(publish_in_order(r, record)) for r in chains.values()
                ]
            else:
                tasks = [asyncio.ensure_future(publish_in_order(batch, record))]
            try:
                _done, pending = await asyncio.wait(tasks, timeout=self._publish_timeout)
            finally:
                for task in tasks:
                    task.cancel()  # a no-op for finished tasks; stops the unacknowledged ones
                await asyncio.gather(*tasks, return_exceptions=True)
            done_ids = set(acknowledged)
            for row_id, message in batch:
                if row_id in tried and row_id not in done_ids and row_id not in failed:
                    record.done(message, "TimeoutError")  # given up: not acknowledged in time
        return _BatchOutcome(
            acknowledged=sorted(done_ids),
            tried_unacknowledged=sorted(tried - done_ids),
            unsent=len(batch) - len(done_ids),
            cause=failures[0] if failures else ("timeout" if pending else ""),
        )

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

        `ready` says whether to publish at all (e.g. whether the broker has connected: publishing
        to an unstarted broker only fails). The loop and the listener are the shared ones of
        `services.common.loops`: the listener re-listens on a new connection whenever its
        connection is lost (a PostgreSQL restart), so wake-ups resume without waiting for polls.
        """

        async def step() -> int:
            return await self.drain_once() if ready() else 0

        listener = asyncio.create_task(listen(self._pool, {self._table.channel: self._wake}))
        try:
            await run_loop(
                f"outbox-relay:{self._table.channel}",
                step,
                idle_seconds=idle_poll_seconds,
                wake=self._wake,
                max_backoff_seconds=max_backoff_seconds,
            )
        finally:
            listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await listener
