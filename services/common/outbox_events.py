"""An event as an outbox row: the CloudEvent a service queues in its own transaction.

Rules kept here:
- the row is the event's JSON with CloudEvents binary-mode headers (`ce_*`), its source the
  queuing service and its subject the key (the referral id), so what the relay publishes reads
  exactly like `kafka.publish_event` would have sent it;
- `event_id` (the `ce_id`) is chosen by the caller and must be stable for the state change it
  reports (derived from the referral, never random), so a row published twice by the relay is
  one event to every consumer.

Intake's handler and every store transaction (`outbox_tx.OutboxTx.emit`) build their rows here.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel

from services.common.kafka_publish import source_uri
from services.common.outbox import OutboxMessage
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
