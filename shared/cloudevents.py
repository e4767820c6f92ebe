"""CloudEvents 1.0 Kafka protocol binding, binary mode: attributes as `ce_*` headers.

The event's data is the message body (JSON); the headers carry `ce_id`, `ce_source`,
`ce_type`, `ce_specversion` (`1.0`), `ce_time`, `ce_subject` (the referral id where there is
one) and `content-type`. Written by hand rather than with the `cloudevents` SDK: the binding
is eight headers, and the SDK's Kafka message type is not what FastStream publishes.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Final
from uuid import uuid4

from pydantic import AwareDatetime

from shared._base import ContractModel

SPEC_VERSION: Final = "1.0"
CONTENT_TYPE: Final = "application/json"

# ce_type of each event, reverse-DNS style, versioned with the topic.
TYPE_SUBMITTED: Final = "uk.nottssas.referral.submitted.v1"
TYPE_RECEIVED: Final = "uk.nottssas.referral.received.v1"
TYPE_REJECTED: Final = "uk.nottssas.referral.rejected.v1"
TYPE_DECIDED: Final = "uk.nottssas.referral.decided.v1"
TYPE_ASSIGNED: Final = "uk.nottssas.assignment.created.v1"
TYPE_RESPONSE: Final = "uk.nottssas.assignment.response.v1"
TYPE_OPS_EVENT: Final = "uk.nottssas.ops.event.v1"
TYPE_OPS_ALERT: Final = "uk.nottssas.ops.alert.v1"
TYPE_DEADLETTER: Final = "uk.nottssas.ops.deadletter.v1"


class CloudEventAttributes(ContractModel):
    """The context attributes read back from a message's headers."""

    id: str
    source: str
    type: str
    specversion: str
    time: AwareDatetime | None = None
    subject: str | None = None
    datacontenttype: str | None = None


class MissingCloudEventHeader(ValueError):
    """A required `ce_*` header is absent."""


def ce_headers(
    *,
    type: str,
    source: str,
    time: datetime,
    subject: str | None = None,
    id: str | None = None,
) -> dict[str, str]:
    """Headers for one event; `id` defaults to a fresh UUID (pass a stable one to dedupe)."""
    headers = {
        "ce_specversion": SPEC_VERSION,
        "ce_id": id or str(uuid4()),
        "ce_source": source,
        "ce_type": type,
        "ce_time": time.isoformat(),
        "content-type": CONTENT_TYPE,
    }
    if subject is not None:
        headers["ce_subject"] = subject
    return headers


def _text(value: str | bytes) -> str:
    return value.decode() if isinstance(value, bytes) else value


def read_ce_headers(headers: Mapping[str, str | bytes]) -> CloudEventAttributes:
    """The CloudEvent attributes of a message; raises MissingCloudEventHeader if one is missing."""
    text = {k: _text(v) for k, v in headers.items()}
    for required in ("ce_id", "ce_source", "ce_type", "ce_specversion"):
        if required not in text:
            raise MissingCloudEventHeader(f"header {required} is missing")
    return CloudEventAttributes(
        id=text["ce_id"],
        source=text["ce_source"],
        type=text["ce_type"],
        specversion=text["ce_specversion"],
        time=text.get("ce_time"),  # type: ignore[arg-type]  # pydantic parses the ISO string
        subject=text.get("ce_subject"),
        datacontenttype=text.get("content-type"),
    )
