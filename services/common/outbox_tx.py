"""A transaction that can queue events: the base of every store's transaction object.

Rules kept here:
- `emit` writes the event as a CloudEvents outbox row (`outbox_events.cloudevent_message`) on
  the service's own outbox table, through the caller's connection, inside the caller's
  transaction: the state change and the event that reports it commit together or not at all;
- the event id is the caller's (stable for what it reports), so a row the relay publishes twice
  is one event to every consumer.

The router's `DecisionTx` and `DecisionBatchTx` (which holds its rows back to insert them in one
statement) and the gateway's referral, delivery and erasure transactions derive
from it; each passes its connection, its `OutboxTable` and its `Service`. `Emitter` is the seam
the use cases see (the gateway's `ports` re-export it; test fakes implement it).
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

import asyncpg
from pydantic import BaseModel

from services.common.outbox import OutboxMessage, OutboxTable, enqueue
from services.common.outbox_events import cloudevent_message
from shared import Service


class Emitter(Protocol):
    """Anything that can queue an event inside its transaction (a store's transaction)."""

    async def emit(
        self,
        event: BaseModel,
        *,
        topic: str,
        key: str | None,
        ce_type: str,
        event_id: str,
        at: datetime,
    ) -> None: ...


class OutboxTx:
    """One transaction's connection, and `emit` onto the service's outbox (an `Emitter`)."""

    def __init__(self, conn: asyncpg.Connection, table: OutboxTable, service: Service) -> None:
        self._conn = conn
        self._outbox = table
        self._service = service

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
        """Queue `event`; the relay publishes it once the caller's transaction commits."""
        message = cloudevent_message(
            self._service, event, topic=topic, key=key, ce_type=ce_type, event_id=event_id, at=at
        )
        await self._queue(message)

    async def _queue(self, message: OutboxMessage) -> None:
        """Write the row now (a batch's transaction may hold rows back and write them at once)."""
        await enqueue(self._conn, self._outbox, message)
