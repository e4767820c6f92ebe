"""The gateway's transactional outbox: what a transaction decides to publish, it publishes.

Rules kept here:
- an ops event, alert, dead letter or echoed response is written as an outbox row in the same
  transaction as the state change it reports, so a state change and its event are never
  separated (no commit-then-publish);
- the relay claims unsent rows with `FOR UPDATE SKIP LOCKED`, publishes them and marks them
  sent only after Kafka acknowledged them; on failure the transaction rolls back and the rows
  are tried again (at-least-once: every event carries a stable id in its `ce_id` header);
- a NOTIFY on commit wakes the relay; its poll backs the notification up.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Final

import asyncpg
from faststream.kafka import KafkaBroker
from pydantic import BaseModel

from services.common.kafka import source_uri
from shared import Service, ce_headers

OUTBOX_CHANNEL: Final = "gateway_outbox"


async def emit(
    conn: asyncpg.Connection,
    event: BaseModel,
    *,
    topic: str,
    key: str | None,
    ce_type: str,
    event_id: str,
    at: datetime,
) -> None:
    """Queue one CloudEvent for publication when the caller's transaction commits."""
    headers = ce_headers(
        type=ce_type,
        source=source_uri(Service.PROVIDER_GATEWAY),
        time=at,
        subject=key,
        id=event_id,
    )
    await conn.execute(
        "INSERT INTO outbox (topic, message_key, headers, payload) VALUES ($1, $2, $3, $4)",
        topic,
        key,
        headers,
        event.model_dump_json().encode(),
    )
    await conn.execute("SELECT pg_notify($1, '')", OUTBOX_CHANNEL)


Publish = Callable[[str, str | None, dict[str, str], bytes], Awaitable[None]]


def kafka_publisher(broker: KafkaBroker) -> Publish:
    async def publish(topic: str, key: str | None, headers: dict[str, str], payload: bytes) -> None:
        await broker.publish(
            payload, topic=topic, key=key.encode() if key else None, headers=headers
        )

    return publish


class OutboxRelay:
    """Moves committed outbox rows to Kafka, a batch at a time."""

    def __init__(self, pool: asyncpg.Pool, publish: Publish, *, batch_size: int = 200) -> None:
        self._pool = pool
        self._publish = publish
        self._batch_size = batch_size

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
            # One at a time, in id order: the events of one referral reach Kafka in order.
            for r in rows:
                await self._publish(r["topic"], r["message_key"], r["headers"], r["payload"])
            await conn.execute(
                "UPDATE outbox SET sent_at = now() WHERE outbox_id = ANY($1::bigint[])",
                [r["outbox_id"] for r in rows],
            )
        return len(rows)

    async def backlog(self) -> int:
        count: int = await self._pool.fetchval("SELECT count(*) FROM outbox WHERE sent_at IS NULL")
        return count
