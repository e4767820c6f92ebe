"""Batch consumption with a per-record edge: each record of a batch is read, or refused, alone.

Rules kept here:
- a batch subscriber (`batch_subscriber`) is durable like `kafka.durable_subscriber` (its group,
  NACK_ON_ERROR, earliest offset): its offsets are committed once, after its handler has
  finished the whole batch, and an error rewinds every partition of the batch for redelivery;
- its handler is handed the raw records (`KafkaMessage.raw_message`): `batch_parser` decodes no
  header for them, since FastStream's own batch parser decodes every header as UTF-8 and one bad
  header would fail the whole batch before any handler or middleware saw it;
- `read_record` puts each record through what a single-message subscriber's edge does, in the
  same order: `tolerant_parser` (undecodable or doubled headers become a fault),
  `raise_edge_fault`, the broker's CloudEvents decoder, then validation against the handler's
  model with errors named as FastStream names them (`<parameter>.<field>`). A record that fails
  raises one of `kafka.POISON`, for the caller to dead-letter (`kafka.dead_letterer`) with its
  reason while the rest of its batch takes effect;
- each record is worked on in its own trace: `record_span` opens a `<topic> process` span in the
  context its headers carry (a batch's consume span has no single parent), so what the handler
  queues for it continues the sender's trace.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from functools import cache
from typing import Any, TypeVar, cast

from aiokafka import ConsumerRecord
from faststream import AckPolicy, StreamMessage
from faststream.kafka import KafkaBroker
from faststream.kafka.message import KafkaMessage
from faststream.kafka.parser import AioKafkaParser
from faststream.kafka.subscriber.usecase import BatchSubscriber
from opentelemetry import trace
from pydantic import BaseModel, create_model

from services.common.edge import raise_edge_fault, tolerant_parser
from services.common.envelope import cloudevent_decoder
from services.common.kafka import OUTSIDER_TOPIC_PREFIXES
from services.common.telemetry import trace_context

_ONE = AioKafkaParser(KafkaMessage, None)
_DECODE = cast(
    "Callable[[StreamMessage[Any]], Awaitable[Any]]", cloudevent_decoder(OUTSIDER_TOPIC_PREFIXES)
)
_TRACER = trace.get_tracer(__name__)
M = TypeVar("M", bound=BaseModel)


def _utf8(value: bytes | None) -> bool:
    if value is None:
        return False
    try:
        value.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


async def batch_parser(
    records: tuple[ConsumerRecord[Any, Any], ...],
    original: Callable[[Any], Awaitable[StreamMessage[Any]]],
) -> StreamMessage[Any]:
    """FastStream's batch message (its consumer, to commit) over the untouched records."""
    decodable = tuple(
        replace(r, headers=[(k, v) for k, v in (r.headers or ()) if _utf8(v)]) for r in records
    )
    message = await original(decodable)
    message.raw_message = records
    # No record's headers speak for the batch: the log context binds no event id to it.
    message.headers = {}
    return message


async def _raw(message: StreamMessage[Any]) -> Any:
    return None  # the handler reads each record itself (`read_record`)


def batch_subscriber(
    broker: KafkaBroker,
    topic: str,
    *,
    group_id: str,
    max_records: int,
    timeout_ms: int,
    title: str,
    description: str | None = None,
    fill_bytes: int = 1,
    fill_wait_ms: int = 500,
) -> BatchSubscriber:
    """A durable subscriber handed up to `max_records` records, waiting at most `timeout_ms`.

    `fill_bytes`/`fill_wait_ms` (the consumer's fetch_min_bytes/fetch_max_wait_ms): the broker
    answers a fetch once it has that many bytes or that long has passed; by default at once,
    for a subscriber whose latency matters more than its batches' size."""
    return broker.subscriber(
        topic,
        group_id=group_id,
        ack_policy=AckPolicy.NACK_ON_ERROR,
        auto_offset_reset="earliest",
        batch=True,
        max_records=max_records,
        batch_timeout_ms=timeout_ms,
        fetch_min_bytes=fill_bytes,
        fetch_max_wait_ms=fill_wait_ms,
        parser=batch_parser,
        decoder=_raw,
        title=title,
        description=description,
    )


@cache
def _body_model(model: type[BaseModel], parameter: str) -> type[BaseModel]:
    fields: dict[str, Any] = {parameter: (model, ...)}
    return cast("type[BaseModel]", create_model(f"{model.__name__}Body", **fields))


async def read_record(
    record: ConsumerRecord[Any, Any], model: type[M], *, parameter: str
) -> tuple[M, dict[str, str]]:
    """The record's event as `model`, and its (decodable) headers; raises one of `kafka.POISON`."""
    message = await tolerant_parser(record, _ONE.parse_message)
    raise_edge_fault(message)
    data = await _DECODE(message)
    body = _body_model(model, parameter).model_validate({parameter: data})
    event: M = getattr(body, parameter)
    return event, message.headers


@contextmanager
def record_span(topic: str, headers: dict[str, str]) -> Iterator[None]:
    """Work on one record of a batch in the trace its headers carry."""
    with (
        trace_context(headers),
        _TRACER.start_as_current_span(f"{topic} process", kind=trace.SpanKind.CONSUMER),
    ):
        yield
