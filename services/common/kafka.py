"""Kafka through FastStream: the broker, CloudEvents publishing, and the dead-letter edge.

Rules kept here:
- the producer is idempotent with acks=all, so an acknowledged publish is on every in-sync
  replica and a retried send is not duplicated by the broker;
- every publish carries CloudEvents binary-mode headers and the referral id as the key;
- every consumed message is processed in its OpenTelemetry trace (FastStream's telemetry
  middleware reads `traceparent` from the headers, and writes it on every publish), with its
  `event_id` (the CloudEvents id) and, on topics keyed by referral, its `referral_id` bound to
  the log lines written while it is handled;
- every subscriber is durable (`durable_subscriber`): in a named consumer group, its offset
  committed only once its handler has finished (an error redelivers the message), and a new
  group starts from the earliest offset, so nothing published before it first ran is missed;
- a message that cannot be parsed or validated (a poison message) is published, by reference
  and with its reason, to `ops.deadletter.v1` and then acknowledged, so it never blocks its
  partition; any other error propagates and the subscriber's ack policy redelivers it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any
from uuid import uuid4

import structlog
from faststream import AckPolicy, BaseMiddleware, StreamMessage
from faststream._internal.types import CustomCallable
from faststream.kafka import KafkaBroker
from faststream.kafka.opentelemetry import KafkaTelemetryMiddleware
from faststream.kafka.prometheus import KafkaPrometheusMiddleware
from faststream.kafka.subscriber.usecase import DefaultSubscriber
from prometheus_client import REGISTRY
from pydantic import BaseModel, ValidationError

from shared import DeadLetter, Service, ce_headers, field_errors
from shared.cloudevents import TYPE_DEADLETTER
from shared.topics import OPS_DEADLETTER

log = structlog.get_logger(__name__)


class PoisonMessage(Exception):
    """A message that can never be processed as it stands; it belongs on the dead-letter topic."""

    def __init__(self, reason_code: str, fields: list[str] | None = None) -> None:
        super().__init__(reason_code)
        self.reason_code = reason_code
        self.fields = fields or []


class LogContextMiddleware(BaseMiddleware):
    """Binds the message's `event_id` and `referral_id` to the log lines of its handling."""

    async def consume_scope(
        self, call_next: Callable[[StreamMessage[Any]], Awaitable[Any]], msg: StreamMessage[Any]
    ) -> Any:
        ids: dict[str, str] = {}
        if event_id := msg.headers.get("ce_id"):
            ids["event_id"] = str(event_id)
        raw_key = getattr(msg.raw_message, "key", None)
        if isinstance(raw_key, bytes) and _UUID.match(raw_key):
            # Only a UUID key is bound: it is a referral id (submission ids are the agency's).
            ids["referral_id"] = raw_key.decode()
        with structlog.contextvars.bound_contextvars(**ids):
            return await call_next(msg)


_UUID = re.compile(rb"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def bootstrap_list(bootstrap_servers: str) -> list[str]:
    """`host:port,host:port` as a list: FastStream and aiokafka's admin client take a single
    string as ONE address, so a cluster's comma-separated list would not resolve."""
    return [s.strip() for s in bootstrap_servers.split(",") if s.strip()]


def make_broker(bootstrap_servers: str, *, client_id: str) -> KafkaBroker:
    """A broker with an idempotent, acks=all producer (nothing connects until `start`).

    Middlewares, outermost first: OpenTelemetry (the trace, from and into the headers);
    FastStream's Prometheus middleware (messages consumed and published, processing time and
    exceptions, labelled by topic, status and exception type only); the log context. A
    service adds its dead-letter middleware inside these, so a poison message is dead-lettered
    within its trace.
    """
    return KafkaBroker(
        bootstrap_list(bootstrap_servers),
        client_id=client_id,
        acks="all",
        enable_idempotence=True,
        logger=structlog.get_logger("faststream"),
        middlewares=[
            KafkaTelemetryMiddleware(),
            KafkaPrometheusMiddleware(registry=REGISTRY, app_name=client_id),
            LogContextMiddleware,
        ],
    )


def durable_subscriber(
    broker: KafkaBroker,
    topic: str,
    *,
    group_id: str,
    title: str,
    description: str | None = None,
    decoder: CustomCallable | None = None,
) -> DefaultSubscriber:
    """A subscriber that commits after handling and starts a new group from the earliest offset."""
    return broker.subscriber(
        topic,
        group_id=group_id,
        ack_policy=AckPolicy.NACK_ON_ERROR,
        auto_offset_reset="earliest",
        decoder=decoder,
        title=title,
        description=description,
    )


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


def _reason(exc: BaseException) -> tuple[str, list[str]]:
    if isinstance(exc, PoisonMessage):
        return exc.reason_code, exc.fields
    if isinstance(exc, ValidationError):
        fields = sorted({e.field for e in field_errors(exc)})
        return "validation_failed", fields[:50]
    return "unparseable", []


def _as_code(field: str) -> str:
    return re.sub(r"[^a-z0-9_.:\-]", "_", field.lower().replace("[", ".").replace("]", ""))


def dead_letter_middleware(
    service: Service, broker_ref: Callable[[], KafkaBroker]
) -> Callable[..., BaseMiddleware]:
    """Broker middleware that dead-letters poison messages and acknowledges them."""

    class DeadLetterMiddleware(BaseMiddleware):
        async def consume_scope(
            self, call_next: Callable[[StreamMessage[Any]], Awaitable[Any]], msg: StreamMessage[Any]
        ) -> Any:
            try:
                return await call_next(msg)
            # RecursionError: JSON nested too deeply to decode; the input itself is at fault,
            # and redelivering it would loop for ever.
            except (
                ValidationError,
                PoisonMessage,
                json.JSONDecodeError,
                UnicodeDecodeError,
                RecursionError,
            ) as exc:
                record = msg.raw_message
                topic = getattr(record, "topic", "unknown")
                reason, fields = _reason(exc)
                letter = DeadLetter(
                    dead_letter_id=uuid4(),
                    at=datetime.now(UTC),
                    service=service,
                    source_topic=topic,
                    source_partition=getattr(record, "partition", None),
                    source_offset=getattr(record, "offset", None),
                    reason_code=reason,
                    error_fields=[_as_code(f) for f in fields],
                )
                raw_key = getattr(record, "key", None)
                key = raw_key.decode(errors="replace") if isinstance(raw_key, bytes) else None
                await publish_event(
                    broker_ref(),
                    letter,
                    topic=OPS_DEADLETTER,
                    key=key,
                    ce_type=TYPE_DEADLETTER,
                    service=service,
                    subject=key,
                )
                log.warning(
                    "message dead-lettered",
                    source_topic=topic,
                    reason_code=reason,
                    error_fields=letter.error_fields,
                    dead_letter_id=str(letter.dead_letter_id),
                    partition=letter.source_partition,
                    offset=letter.source_offset,
                )
                return None

    return DeadLetterMiddleware
