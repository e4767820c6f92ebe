"""The dead-letter edge of every consumer: a poison message is set aside, alerted and acked.

Rules kept here:
- a message that cannot be parsed or validated (a poison message) is dead-lettered, by
  reference and with its reason, to `ops.deadletter.v1` and then acknowledged, so it never
  blocks its partition; any other error propagates and the subscriber's ack policy redelivers
  it;
- a dead letter carries only what the system minted or validated: its key and subject are the
  original key if that is a referral id (a UUID), else the key's digest; its `error_fields`
  name only fields of the contract (`edge.safe_field`); each raises a `dead_lettered` alert
  on `ops.alerts.v1` (aggregated per topic and minute, `dead_letter_alerts`);
- a dead letter's id (and `ce_id`) is derived from the record (`ops_ids.dead_letter_id`:
  service, source topic, partition, offset, reason), so the same poison record dead-lettered
  again, after a redelivery, is the same dead letter;
- dead letters and their alerts are queued on the service's own outbox (`ops_outbox.OutboxOps`,
  passed as `ops` by each service's `bootstrap.py`), each in its own short transaction, and the
  service's relay publishes them; if the database cannot take one, the error propagates and the
  poison message is not acknowledged: it is redelivered, and dead-lettered, later. Without `ops`
  (a broker with no database: the wiring tests) they are published at once (`BrokerOps`).
Re-exported by `services.common.kafka`, where the services import it from.
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import structlog
from faststream import BaseMiddleware, StreamMessage
from faststream.kafka import KafkaBroker
from pydantic import ValidationError

from services.common.dead_letter_alerts import DeadLetterAlerts
from services.common.edge import PoisonMessage, raise_edge_fault, safe_field, safe_key
from services.common.ops_ids import dead_letter_id
from services.common.ops_outbox import BrokerOps, OpsSink, alert_raiser
from shared import DeadLetter, Service, field_errors
from shared.cloudevents import TYPE_DEADLETTER
from shared.topics import OPS_DEADLETTER

log = structlog.get_logger("services.common.kafka")


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
    ops: OpsSink | None = None,
) -> Callable[..., BaseMiddleware]:
    """Broker middleware that dead-letters poison messages, raises their alert, and acks them.

    `dead_letter` (from `dead_letterer`) lets a batch subscriber share the middleware's alerts;
    `ops` is where they go (the service's outbox; see the module's rules).
    """
    letter = dead_letter or dead_letterer(
        service, broker_ref, alert_window_seconds=alert_window_seconds, ops=ops
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
    service: Service,
    broker_ref: Callable[[], KafkaBroker],
    *,
    alert_window_seconds: float = 60.0,
    ops: OpsSink | None = None,
) -> DeadLetterer:
    """Queues one poison record's dead letter (by reference, with its reason) and its alert.

    What the middleware does with a poison message, for a batch subscriber to call per record.
    Raises if `ops` cannot take them (the record is then not acknowledged).
    """
    sink: OpsSink = ops if ops is not None else BrokerOps(service, broker_ref)

    raise_alert = alert_raiser(sink)

    alerts = DeadLetterAlerts(service, raise_alert, window_seconds=alert_window_seconds)

    async def _dead_letter(record: Any, exc: BaseException) -> None:
        topic = getattr(record, "topic", "unknown")
        reason, fields = _reason(exc)
        partition, offset = getattr(record, "partition", None), getattr(record, "offset", None)
        letter = DeadLetter(
            dead_letter_id=dead_letter_id(service, topic, partition, offset, reason),
            at=datetime.now(UTC),
            service=service,
            source_topic=topic,
            source_partition=partition,
            source_offset=offset,
            reason_code=reason,
            error_fields=sorted({_as_code(f) for f in fields})[:50],
        )
        key = safe_key(getattr(record, "key", None))
        await sink.emit(
            letter,
            topic=OPS_DEADLETTER,
            key=key,
            ce_type=TYPE_DEADLETTER,
            event_id=str(letter.dead_letter_id),
            at=letter.at,
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
