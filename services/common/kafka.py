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
- a message that cannot be parsed or validated (a poison message) is dead-lettered and acked
  (`dead_letter.py`); any other error propagates and the subscriber's ack policy redelivers it;
- parsing never raises (`edge.tolerant_parser`, on every subscriber of the broker): a header
  that is not UTF-8 or a meaningful header sent twice is a poison message like any other;
- every subscriber reads the CloudEvents envelope (`envelope.read_event`, the official SDK):
  binary mode everywhere, structured mode too on the topics outsiders write; anything else is
  a poison message naming the header at fault.
Publishing one event is `kafka_publish.py`, the dead-letter edge `dead_letter.py`; both are
re-exported here, where the services import them from.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import Any

import structlog
from faststream import AckPolicy, BaseMiddleware, StreamMessage
from faststream._internal.types import CustomCallable
from faststream.kafka import KafkaBroker
from faststream.kafka.opentelemetry import KafkaTelemetryMiddleware
from faststream.kafka.prometheus import KafkaPrometheusMiddleware
from faststream.kafka.subscriber.usecase import DefaultSubscriber
from prometheus_client import REGISTRY

from services.common.dead_letter import (
    POISON,
    DeadLetterer,
    dead_letter_middleware,
    dead_letterer,
)
from services.common.edge import PoisonMessage, safe_id, tolerant_parser
from services.common.envelope import cloudevent_decoder
from services.common.kafka_publish import publish_event, source_uri
from services.common.kafka_security import KafkaSecurity

# Topics that outsiders write (per-agency and per-provider variants included): the only ones
# where CloudEvents structured content mode is accepted.
OUTSIDER_TOPIC_PREFIXES = ("referrals.submitted", "assignments.responses")
__all__ = [  # PoisonMessage lives in `edge`; the services raise it from here
    "POISON",
    "DeadLetterer",
    "LogContextMiddleware",
    "PoisonMessage",
    "bootstrap_list",
    "dead_letter_middleware",
    "dead_letterer",
    "durable_subscriber",
    "make_broker",
    "publish_event",
    "source_uri",
]


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
