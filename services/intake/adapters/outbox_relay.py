"""The outbox relay: publishes committed outbox rows to Kafka, then marks them sent.

Rules kept here:
- rows are claimed with `FOR UPDATE SKIP LOCKED`, so several relays (replicas) can run and
  no row is published by two of them at once;
- a row is marked sent only after Kafka has acknowledged it (acks=all, idempotent producer);
- a batch's publishes are bounded by `publish_timeout_seconds`: a row not acknowledged in time
  (or whose publish failed) stays unsent, has its `attempts` counted, and is tried again after
  a pause. So a Kafka outage delays delivery but loses nothing, and it never holds row locks
  or a transaction open for longer than the timeout (at-least-once; consumers dedupe by id);
- LISTEN/NOTIFY wakes the relay as soon as a referral commits; a slow poll backs it up in case
  a notification is missed (for example while the listening connection was being re-made).

Errors:
    OutboxPublishFailed   some rows of a batch were not acknowledged; they will be retried
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


class OutboxPublishFailed(Exception):
    """Some rows of a batch were not acknowledged by Kafka in time; they stay unsent."""

    def __init__(self, *, sent: int, unsent: int, cause: str) -> None:
        super().__init__(f"{unsent} outbox rows not published ({cause}); {sent} published")
        self.sent = sent
        self.unsent = unsent
        self.cause = cause


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
        publish_timeout_seconds: float = 10.0,
    ) -> None:
        self._pool = pool
        self._publish = publish
        self._batch_size = batch_size
        self._idle_poll = idle_poll_seconds
        self._max_backoff = max_backoff_seconds
        self._publish_timeout = publish_timeout_seconds
        self._wake = asyncio.Event()
        self.published_total = 0

    def wake(self, *_: Any) -> None:
        self._wake.set()

    async def drain_once(self) -> int:
        """Publish one batch of unsent rows; returns how many were published.

        Raises OutboxPublishFailed (after committing what was published) if any row of the
        batch was not acknowledged within the publish timeout.
        """
        async with self._pool.acquire() as conn, conn.transaction():
            rows = await conn.fetch(
                "SELECT outbox_id, topic, message_key, headers, payload FROM outbox"
                " WHERE sent_at IS NULL ORDER BY outbox_id LIMIT $1 FOR UPDATE SKIP LOCKED",
                self._batch_size,
            )
            if not rows:
                return 0
            sent, unsent, cause = await self._publish_all(rows)
            if sent:
                await conn.execute(
                    "UPDATE outbox SET sent_at = now(), attempts = attempts + 1"
                    " WHERE outbox_id = ANY($1::bigint[])",
                    sent,
                )
            if unsent:
                await conn.execute(
                    "UPDATE outbox SET attempts = attempts + 1 WHERE outbox_id = ANY($1::bigint[])",
                    unsent,
                )
        self.published_total += len(sent)
        if unsent:
            raise OutboxPublishFailed(sent=len(sent), unsent=len(unsent), cause=cause)
        return len(sent)

    async def _publish_all(self, rows: list[asyncpg.Record]) -> tuple[list[int], list[int], str]:
        """Publish every row concurrently; (acknowledged ids, other ids, first failure)."""
        tasks = {
            asyncio.ensure_future(
                self._publish(
                    OutboxMessage(r["topic"], r["message_key"], r["headers"], r["payload"])
                )
            ): int(r["outbox_id"])
            for r in rows
        }
        try:
            done, pending = await asyncio.wait(tasks, timeout=self._publish_timeout)
        finally:
            for task in tasks:
                task.cancel()  # a no-op for finished tasks; stops the unacknowledged ones
            await asyncio.gather(*tasks, return_exceptions=True)
        sent = [tasks[t] for t in done if not t.cancelled() and t.exception() is None]
        unsent = sorted(set(tasks.values()) - set(sent))
        failures = [
            type(t.exception()).__name__
            for t in done
            if not t.cancelled() and t.exception() is not None
        ]
        cause = failures[0] if failures else ("timeout" if pending else "")
        return sorted(sent), unsent, cause

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
                    await asyncio.sleep(backoff)
                    backoff = min(backoff * 2, self._max_backoff)
                    continue
                except OutboxPublishFailed as exc:
                    log.warning(
                        "outbox relay: publish failed, will retry",
                        error=exc.cause,
                        sent=exc.sent,
                        unsent=exc.unsent,
                    )
                    await asyncio.sleep(backoff)
                    backoff = min(backoff * 2, self._max_backoff)
                    continue
                except Exception as exc:  # noqa: BLE001 - the relay must outlive any one failure
                    # No traceback: exception text may quote a payload.
                    log.error(  # noqa: TRY400
                        "outbox relay: unexpected error, will retry", error=type(exc).__name__
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
