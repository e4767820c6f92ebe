"""The gateway's transactional outbox: what a transaction decides to publish, it publishes.

Rules kept here:
- an ops event, alert, dead letter or echoed response is written as an outbox row in the same
  transaction as the state change it reports, so a state change and its event are never
  separated (no commit-then-publish);
- every row is a CloudEvent whose `ce_id` is the event's own id, stable however often the relay
  has to publish it; the relay itself (claiming, publishing in order, marking sent, waking on
  NOTIFY) is the shared one in `services.common.outbox`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Final

import asyncpg
from pydantic import BaseModel

from services.common.kafka import source_uri
from services.common.outbox import OutboxMessage, OutboxTable, enqueue
from shared import Service, ce_headers

OUTBOX_CHANNEL: Final = "gateway_outbox"
OUTBOX: Final = OutboxTable(channel=OUTBOX_CHANNEL)


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
    await enqueue(
        conn, OUTBOX, OutboxMessage(topic, key, headers, event.model_dump_json().encode())
    )


class OutboxTx:
    """A transaction that can queue events: the base of the gateway's transaction objects."""

    def __init__(self, conn: asyncpg.Connection) -> None:
        self._conn = conn

    async def emit(
        self,
        event: BaseModel,
        *,
        topic: str,
        key: str | None,
        ce_type: str,
        event_id: str,
        at: datetime,
    ) -> None:
        await emit(self._conn, event, topic=topic, key=key, ce_type=ce_type, event_id=event_id, at=at)
