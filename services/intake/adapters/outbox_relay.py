"""The outbox relay: publishes committed outbox rows to Kafka, then marks them sent.

Rules kept here:
- rows are claimed with `FOR UPDATE SKIP LOCKED`, so several relays (replicas) can run and
  no row is published by two of them at once;
- a row is marked sent only after Kafka has acknowledged it (acks=all, idempotent producer);
  if publishing fails the transaction rolls back and the rows are tried again after a pause,
  so a Kafka outage delays delivery but loses nothing (at-least-once; consumers dedupe by id);
- LISTEN/NOTIFY wakes the relay as soon as a referral commits; a slow poll backs it up in case
  a notification is missed (for example while the listening connection was being re-made).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
import structlog

from services.intake.adapters.store import OUTBOX_CHANNEL, OutboxMessage

log = structlog.get_logger(__name__)

Publish = Callable[[OutboxMessage], Awaitable[None]]


class OutboxRelay:
    """Moves outbox rows to Kafka; `run` until cancelled."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        publish: Publish,
        *,
        batch_size: int = 200,
        idle_poll_seconds: float = 2.0,
        max_backoff_seconds: float = 10.0,
    ) -> None:
        self._pool = pool
        self._publish = publish
        self._batch_size = batch_size
        self._idle_poll = idle_poll_seconds
        self._max_backoff = max_backoff_seconds
        self._wake = asyncio.Event()
        self.published_total = 0

    def wake(self, *_: Any) -> None:
        self._wake.set()

    async def drain_once(self) -> int:
        """Publish one batch of unsent rows; returns how many were published."""
        async with self._pool.acquire() as conn, conn.transaction():
            rows = await conn.fetch(
                "SELECT outbox_id, topic, message_key, headers, payload FROM outbox"
                " WHERE sent_at IS NULL ORDER BY outbox_id LIMIT $1 FOR UPDATE SKIP LOCKED",
                self._batch_size,
            )
            if not rows:
                return 0
            await asyncio.gather(
                *(
                    self._publish(
                        OutboxMessage(r["topic"], r["message_key"], r["headers"], r["payload"])
                    )
                    for r in rows
                )
            )
            await conn.execute(
                "UPDATE outbox SET sent_at = now(), attempts = attempts + 1"
                " WHERE outbox_id = ANY($1::bigint[])",
                [r["outbox_id"] for r in rows],
            )
        self.published_total += len(rows)
        return len(rows)

    async def run(self) -> None:
        listener = await self._pool.acquire()
        await listener.add_listener(OUTBOX_CHANNEL, self.wake)
        backoff = 0.5
        try:
            while True:
                # Cleared before draining, so a NOTIFY that lands during the drain is not lost.
                self._wake.clear()
                try:
                    published = await self.drain_once()
                    backoff = 0.5
                except (OSError, asyncpg.PostgresError) as exc:
                    log.warning("outbox relay: database unavailable", error=type(exc).__name__)
                    published = 0
                    await asyncio.sleep(backoff)
                    backoff = min(backoff * 2, self._max_backoff)
                    continue
                except Exception as exc:  # noqa: BLE001 - Kafka errors of every kind: retry later
                    log.warning(
                        "outbox relay: publish failed, will retry", error=type(exc).__name__
                    )
                    await asyncio.sleep(backoff)
                    backoff = min(backoff * 2, self._max_backoff)
                    continue
                if published:
                    continue
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), timeout=self._idle_poll)
        finally:
            with contextlib.suppress(Exception):
                await listener.remove_listener(OUTBOX_CHANNEL, self.wake)
            await self._pool.release(listener)
