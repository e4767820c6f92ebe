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
  partition; any other error propagates and the subscriber's ack policy redelivers it;
- parsing never raises (`edge.tolerant_parser`, on every subscriber of the broker): a header
  that is not UTF-8 or a meaningful header sent twice is a poison message like any other;
- every subscriber reads the CloudEvents envelope (`envelope.read_event`, the official SDK):
  binary mode everywhere, structured mode too on the topics outsiders write; anything else is
  a poison message naming the header at fault;
- a dead letter carries only what the system minted or validated: its key and subject are the
  original key if that is a referral id (a UUID), else the key's digest; its `error_fields`
  name only fields of the contract (`edge.safe_field`); each raises a `dead_lettered` alert
  on `ops.alerts.v1` (aggregated per topic and minute, `dead_letter_alerts`).
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

from services.common.dead_letter_alerts import DeadLetterAlerts
from services.common.edge import (
    PoisonMessage,
    raise_edge_fault,
    safe_field,
    safe_id,
    safe_key,
    tolerant_parser,
)
from services.common.envelope import cloudevent_decoder
from services.common.kafka_security import KafkaSecurity
from shared import DeadLetter, OpsAlert, Service, ce_headers, field_errors
from shared.cloudevents import TYPE_DEADLETTER, TYPE_OPS_ALERT
from shared.topics import OPS_ALERTS, OPS_DEADLETTER

# Topics that outsiders write (per-agency and per-provider variants included): the only ones
# where CloudEvents structured content mode is accepted.
OUTSIDER_TOPIC_PREFIXES = ("referrals.submitted", "assignments.responses")
__all__ = [  # PoisonMessage lives in `edge`; the services raise it from here
    "LogContextMiddleware",
    "PoisonMessage",
    "dead_letter_middleware",
    "durable_subscriber",
    "make_broker",
    "publish_event",
    "source_uri",
]

log = structlog.get_logger(__name__)


class LogContextMiddleware(BaseMiddleware):
    """Binds the message's `event_id` and `referral_id` to the log lines of its handling."""

    async def consume_scope(
        self, call_next: Callable[[StreamMessage[Any]], Awaitable[Any]], msg: StreamMessage[Any]
    ) -> Any:
        ids: dict[str, str] = {}
        if event_id := msg.headers.get("ce_id"):
            # An outsider's event id could be anything: only an id we mint is logged as is.
            ids["event_id"] = safe_id(str(event_id))
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


def make_broker(
    bootstrap_servers: str, *, client_id: str, security: KafkaSecurity | None = None
) -> KafkaBroker:
    """A broker with an idempotent, acks=all producer (nothing connects until `start`).

    `security` is the service's Kafka principal and TLS settings (`settings.kafka_security`);
    None connects in plain text, which only an in-memory TestKafkaBroker or a plain-text
    broker (the three-node drill cluster) accepts.

    Middlewares, outermost first: OpenTelemetry (the trace, from and into the headers);
    FastStream's Prometheus middleware (messages consumed and published, processing time and
    exceptions, labelled by topic, status and exception type only); the log context. A
    service adds its dead-letter middleware inside these, so a poison message is dead-lettered
    within its trace.
    """
    return KafkaBroker(
        bootstrap_list(bootstrap_servers),
        client_id=client_id,
        security=security.faststream() if security is not None else None,
        acks="all",
        enable_idempotence=True,
        logger=structlog.get_logger("faststream"),
        parser=tolerant_parser,
        decoder=cloudevent_decoder(OUTSIDER_TOPIC_PREFIXES),
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
    """A subscriber that commits after handling and starts a new group from the earliest offset.

    The broker's decoder reads the CloudEvents envelope and hands the handler the event's data,
    unless `decoder` is given (intake's submissions read the envelope themselves, to refuse by
    field).
    """
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
    return re.sub(r"[^a-z0-9_.:\-]", "_", safe_field(field).lower())


# What a consumed message that can never be processed raises (RecursionError: JSON nested too
# deeply to decode; the input itself is at fault, and redelivering it would loop for ever).
POISON: tuple[type[BaseException], ...] = (
    ValidationError,
    PoisonMessage,
    json.JSONDecodeError,
    UnicodeDecodeError,
    RecursionError,
)
DeadLetterer = Callable[[Any, BaseException], Awaitable[None]]


def dead_letter_middleware(
    service: Service,
    broker_ref: Callable[[], KafkaBroker],
    *,
    alert_window_seconds: float = 60.0,
    dead_letter: DeadLetterer | None = None,
) -> Callable[..., BaseMiddleware]:
    """Broker middleware that dead-letters poison messages, raises their alert, and acks them.

    `dead_letter` (from `dead_letterer`) lets a batch subscriber share the middleware's alerts.
    """
    letter = dead_letter or dead_letterer(
        service, broker_ref, alert_window_seconds=alert_window_seconds
    )

    class DeadLetterMiddleware(BaseMiddleware):
        async def consume_scope(
            self, call_next: Callable[[StreamMessage[Any]], Awaitable[Any]], msg: StreamMessage[Any]
        ) -> Any:
            try:
                raise_edge_fault(msg)
                return await call_next(msg)
            except POISON as exc:
                await letter(msg.raw_message, exc)
                return None

    return DeadLetterMiddleware


def dead_letterer(
    service: Service, broker_ref: Callable[[], KafkaBroker], *, alert_window_seconds: float = 60.0
) -> DeadLetterer:
    """Publishes one poison record's dead letter (by reference, with its reason) and its alert.

    What the middleware does with a poison message, for a batch subscriber to call per record.
    """

    async def raise_alert(alert: OpsAlert) -> None:
        await publish_event(
            broker_ref(),
            alert,
            topic=OPS_ALERTS,
            key=None,
            ce_type=TYPE_OPS_ALERT,
            service=service,
            event_id=str(alert.alert_id),
            at=alert.at,
        )

    alerts = DeadLetterAlerts(service, raise_alert, window_seconds=alert_window_seconds)

    async def _dead_letter(record: Any, exc: BaseException) -> None:
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
            error_fields=sorted({_as_code(f) for f in fields})[:50],
        )
        key = safe_key(getattr(record, "key", None))
        await publish_event(
            broker_ref(),
            letter,
            topic=OPS_DEADLETTER,
            key=key,
            ce_type=TYPE_DEADLETTER,
            service=service,
            subject=key,
            event_id=str(letter.dead_letter_id),
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
        await alerts.dead_lettered(topic, reason)

    return _dead_letter
