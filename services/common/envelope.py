"""The CloudEvents envelope of a consumed record, read with the official CloudEvents SDK.

Rules kept here (CloudEvents 1.0, Kafka protocol binding):
- binary content mode: the attributes are `ce_*` headers, of which `ce_id`, `ce_source`,
  `ce_type` and `ce_specversion` (`1.0`) must be present (the SDK would invent a missing id
  and specversion, so their presence is checked first); the body is the event's JSON data;
- structured content mode (`content-type: application/cloudevents+json`): the body is the
  whole event, attributes and `data`; accepted only where `structured=True` (the topics that
  outsiders write); our own services publish binary mode only;
- a record that is neither, or whose attributes the SDK refuses, raises `EnvelopeRefused`
  naming the header (binary) or attribute (structured) at fault, never quoting the input;
- a body that is not JSON (bad UTF-8, bad syntax, nested too deeply) raises
  `UndecodableBody`: there is nothing there to refuse by field, so it is dead-lettered.
The SDK (`cloudevents` on PyPI, kept by the CloudEvents project) does the attribute rules, so
what we accept is what every other CloudEvents consumer accepts.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Final

from cloudevents.core.bindings import kafka as ce_kafka
from cloudevents.core.exceptions import BaseCloudEventException, CloudEventValidationError
from cloudevents.core.formats.json import JSONFormat
from faststream import StreamMessage
from faststream._internal.types import CustomCallable

from services.common.edge import CE_ATTRIBUTES, UNKNOWN_FIELD, PoisonMessage

STRUCTURED: Final = "application/cloudevents+json"
REQUIRED: Final = ("id", "source", "type", "specversion")
_FORMAT: Final = JSONFormat()


class EnvelopeRefused(ValueError):
    """The record is not a CloudEvent we accept; `field` names the header or attribute."""

    def __init__(self, code: str, field: str) -> None:
        super().__init__(code)
        self.code = code
        self.field = field


class UndecodableBody(ValueError):
    """The body (or a structured event) is not JSON."""


def _json(body: bytes) -> Any:
    try:
        return json.loads(body)
    except (ValueError, RecursionError):  # JSONDecodeError and UnicodeDecodeError: ValueErrors
        raise UndecodableBody("unparseable_json") from None


def _named(attribute: str, *, binary: bool) -> str:
    name = attribute if attribute in CE_ATTRIBUTES else UNKNOWN_FIELD
    return f"headers.ce_{name}" if binary else name


def _sdk(call: Any, message: ce_kafka.KafkaMessage, *, binary: bool) -> Any:
    try:
        return call(message, _FORMAT)
    except CloudEventValidationError as exc:
        attribute = next(iter(exc.errors), UNKNOWN_FIELD)
        raise EnvelopeRefused("invalid_cloudevent", _named(attribute, binary=binary)) from None
    except (BaseCloudEventException, ValueError, TypeError, AttributeError, OverflowError):
        # Reached for a `time` that is not RFC 3339, or attributes of the wrong JSON type.
        raise EnvelopeRefused("invalid_cloudevent", _named("time", binary=binary)) from None


def read_event(headers: Mapping[str, str], body: bytes, *, structured: bool) -> Any:
    """The event's data (decoded JSON) if the record is a CloudEvent we accept."""
    lowered = {k.lower(): v for k, v in headers.items()}
    content_type = lowered.get("content-type", "").split(";")[0].strip().lower()
    if content_type == STRUCTURED:
        if not structured:
            raise EnvelopeRefused("structured_mode_not_accepted", "headers.content-type")
        return _read_structured(body)
    if not any(k.startswith("ce_") for k in lowered):
        raise EnvelopeRefused("not_a_cloudevent", "headers.ce_specversion")
    for attribute in REQUIRED:
        if f"ce_{attribute}" not in lowered:
            raise EnvelopeRefused("missing_header", f"headers.ce_{attribute}")
    if lowered["ce_specversion"] != "1.0":
        raise EnvelopeRefused("unsupported_specversion", "headers.ce_specversion")
    if content_type and not JSONFormat.JSON_CONTENT_TYPE_PATTERN.match(content_type):
        raise EnvelopeRefused("unsupported_content_type", "headers.content-type")
    raw = {k: v.encode() for k, v in lowered.items()}
    # The data is decoded here rather than by the SDK, which falls back to a string on bad JSON.
    _sdk(ce_kafka.from_binary, ce_kafka.KafkaMessage(raw, None, b""), binary=True)
    return _json(body)


def _read_structured(body: bytes) -> Any:
    event = _json(body)
    if not isinstance(event, dict):
        raise EnvelopeRefused("invalid_cloudevent", "specversion")
    for attribute in REQUIRED:
        if attribute not in event:
            raise EnvelopeRefused("missing_attribute", attribute)
    if event["specversion"] != "1.0":
        raise EnvelopeRefused("unsupported_specversion", "specversion")
    if "data" not in event:
        raise EnvelopeRefused("missing_attribute", "data")
    message = ce_kafka.KafkaMessage({"content-type": STRUCTURED.encode()}, None, body)
    return _sdk(ce_kafka.from_structured, message, binary=False).get_data()


def cloudevent_decoder(outsider_topics: tuple[str, ...]) -> CustomCallable:
    """A FastStream decoder: the event's data if the message is a CloudEvent, else poison.

    Structured mode is accepted on the topics whose names start with one of `outsider_topics`.
    """

    async def decode(msg: StreamMessage[Any]) -> Any:
        topic = getattr(msg.raw_message, "topic", "")
        structured = isinstance(topic, str) and topic.startswith(outsider_topics)
        try:
            return read_event(msg.headers, msg.body, structured=structured)
        except EnvelopeRefused as exc:
            raise PoisonMessage(exc.code, [exc.field]) from None
        except UndecodableBody:
            raise PoisonMessage("unparseable_json") from None

    return decode
