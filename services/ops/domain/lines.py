"""One readable line per message of an ops topic (`ops.events.v1`, `ops.alerts.v1`,
`ops.deadletter.v1`): time, service, state or kind, referral id, provider, codes.

Rules kept here:
- a message is read as the contract model of its topic; only that model's fields are printed,
  each as `name=value`, absent ones left out;
- a message that is not a valid model is printed as `invalid message` with its position and
  size, never its content (a producer that broke the contract may have sent anything);
- times are UTC, ISO 8601, to the millisecond;
- a dead letter's key is printed only if it is a referral id or already a digest; any other
  key (written before the services digested keys) is printed as its digest.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Final

from pydantic import ValidationError

from shared import DeadLetter, OpsAlert, OpsEvent
from shared.topics import OPS_ALERTS, OPS_DEADLETTER, OPS_EVENTS

OpsModel = OpsEvent | OpsAlert | DeadLetter
MODEL_OF_TOPIC: Final[Mapping[str, type[OpsModel]]] = MappingProxyType(
    {
        OPS_EVENTS: OpsEvent,
        OPS_ALERTS: OpsAlert,
        OPS_DEADLETTER: DeadLetter,
    }
)
OPS_TOPICS = tuple(MODEL_OF_TOPIC)


@dataclass(frozen=True)
class OpsRecord:
    """A message as read from Kafka: where it sits, its key and its raw value."""

    topic: str
    partition: int
    offset: int
    key: str | None
    value: bytes
    timestamp_ms: int | None = None


def parse_record(record: OpsRecord) -> OpsModel | None:
    """The record's contract model, or None if it is not one (or its topic is not an ops topic)."""
    model = MODEL_OF_TOPIC.get(record.topic)
    if model is None:
        return None
    try:
        return model.model_validate_json(record.value)
    except ValidationError:
        return None


def when(at: datetime) -> str:
    return at.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _pairs(**fields: object) -> str:
    return " ".join(
        f"{k}={v.value if hasattr(v, 'value') else v}" for k, v in fields.items() if v is not None
    )


def _event(e: OpsEvent) -> str:
    head = f"{when(e.at)}  {e.service.value:<16}  {e.state.value:<18}"
    rest = _pairs(
        referral=e.referral_id,
        submission=e.submission_ref,
        provider=e.provider,
        pathway=e.pathway,
        priority=e.priority,
        rules=e.rules_version,
        attempt=e.attempt,
        status=e.status_code,
        latency_ms=None if e.latency_ms is None else f"{e.latency_ms:.1f}",
        reason=e.reason_code,
    )
    return f"{head}  {rest}".rstrip()


def _alert(a: OpsAlert) -> str:
    head = f"{when(a.at)}  {a.service.value:<16}  {'alert:' + a.kind.value:<18}"
    rest = _pairs(
        severity=a.severity,
        referral=a.referral_id,
        provider=a.provider,
        reason=a.reason_code,
        count=a.count,
    )
    return f"{head}  {rest}"


_SHOWN_KEY = re.compile(
    r"^([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|sha256:[0-9a-f]{16})$"
)


def _shown_key(key: str | None) -> str | None:
    if key is None or _SHOWN_KEY.match(key):
        return key
    return "sha256:" + hashlib.sha256(key.encode()).hexdigest()[:16]


def _dead_letter(d: DeadLetter, key: str | None) -> str:
    head = f"{when(d.at)}  {d.service.value:<16}  {'dead_letter':<18}"
    where = d.source_topic
    if d.source_partition is not None:
        where += f"[{d.source_partition}]"
    if d.source_offset is not None:
        where += f"@{d.source_offset}"
    rest = _pairs(
        key=_shown_key(key),
        source=where,
        reason=d.reason_code,
        fields=",".join(d.error_fields) or None,
    )
    return f"{head}  {rest}"


def format_record(record: OpsRecord) -> str:
    """One line for one ops message."""
    model = parse_record(record)
    if isinstance(model, OpsEvent):
        return _event(model)
    if isinstance(model, OpsAlert):
        return _alert(model)
    if isinstance(model, DeadLetter):
        return _dead_letter(model, record.key)
    at = (
        when(datetime.fromtimestamp(record.timestamp_ms / 1000, UTC))
        if record.timestamp_ms is not None
        else "-"
    )
    return (
        f"{at}  {'?':<16}  {'invalid message':<18}  "
        f"topic={record.topic} partition={record.partition} offset={record.offset}"
        f" bytes={len(record.value)}"
    )
