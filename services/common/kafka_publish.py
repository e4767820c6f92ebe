"""Publishing one event to Kafka as a CloudEvent (binary content mode).

Rules kept here:
- every publish carries CloudEvents binary-mode headers, its source naming the service
  (`urn:nottssas:<service>`), and the referral id as the key (the subject too, unless given);
- `publish_event` returns once the broker has acknowledged (the producer is acks=all and
  idempotent: `kafka.make_broker`).
Re-exported by `services.common.kafka`, where the services import it from.
"""

from __future__ import annotations

from datetime import UTC, datetime

from faststream.kafka import KafkaBroker
from pydantic import BaseModel

from shared import Service, ce_headers


def source_uri(service: Service) -> str:
    return f"urn:nottssas:{service.value}"


async def publish_event(
    broker: KafkaBroker,
    event: BaseModel,
    *,
    topic: str,
    key: str | None,
    ce_type: str,
    service: Service,
    subject: str | None = None,
    event_id: str | None = None,
    at: datetime | None = None,
) -> None:
    """Publish one event as a CloudEvent (binary mode) and wait for the broker's ack."""
    headers = ce_headers(
        type=ce_type,
        source=source_uri(service),
        time=at or datetime.now(UTC),
        subject=subject if subject is not None else key,
        id=event_id,
    )
    await broker.publish(
        event.model_dump_json().encode(),
        topic=topic,
        key=key.encode() if key is not None else None,
        headers=headers,
    )
