"""An event as an outbox row: the CloudEvent a service queues in its own transaction.

Rules kept here:
- the row is the event's JSON with CloudEvents binary-mode headers (`ce_*`), its source the
  queuing service and its subject the key (the referral id), so what the relay publishes reads
  exactly like `kafka.publish_event` would have sent it;
- `event_id` (the `ce_id`) is chosen by the caller and must be stable for the state change it
  reports (derived from the referral, never random), so a row published twice by the relay is
  one event to every consumer.

Intake builds the same row by hand and can call `emit` here with its `OutboxTable` and `Service`
instead; the store transactions use it through `outbox_tx.OutboxTx`.
"""

from __future__ import annotations

from datetime import datetime

import asyncpg
from pydantic import BaseModel

from services.common.kafka import source_uri
from services.common.outbox import OutboxMessage, OutboxTable, enqueue
from shared import Service, ce_headers


def cloudevent_message(
    service: Service,
    event: BaseModel,
    *,
    topic: str,
    key: str | None,
    ce_type: str,
    event_id: str,
    at: datetime,
) -> OutboxMessage:
    """The message `event` becomes: its JSON, with the CloudEvents headers of `service`."""
    headers = ce_headers(
        type=ce_type, source=source_uri(service), time=at, subject=key, id=event_id
    )
    return OutboxMessage(topic, key, headers, event.model_dump_json().encode())


async def emit(
    conn: asyncpg.Connection,
    table: OutboxTable,
    service: Service,
    event: BaseModel,
    *,
    topic: str,
    key: str | None,
    ce_type: str,
    event_id: str,
    at: datetime,
) -> None:
    """Queue `event` in the caller's transaction; the relay publishes it once that commits."""
    message = cloudevent_message(
        service, event, topic=topic, key=key, ce_type=ce_type, event_id=event_id, at=at
    )
    await enqueue(conn, table, message)
