"""Every message our services wrote to a topic is a valid CloudEvent of the topic's type, whose
data validates against the contract's JSON Schema.

Checked with tools the project did not write, as an outside consumer would: the official
CloudEvents SDK (`cloudevents.core.bindings.kafka`, binary content mode, strict 1.0 attribute
validation) and `jsonschema` over the generated `schemas/*.schema.json`.

Rules kept here:
- A check covers a window: from `mark()` (the end of each partition when a test started) to
  the end of each partition when the check runs; nothing older is read.
- Topics are shared by every test, and some tests put poison on them on purpose. A message
  whose `ce_source` is not one of our services' sources is foreign: counted, never judged.
  A message with our source must pass every check; a failure names the topic, offset and
  problem (never the data itself, which may be personal).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from cloudevents.core.bindings.kafka import KafkaMessage, from_binary_event
from jsonschema import Draft202012Validator, ValidationError
from jsonschema.exceptions import best_match

from shared import cloudevents as ce
from shared import topics
from shared.ops import Service
from tests.support.infra import ROOT
from tests.support.kafka import connection

# topic -> (the ce_type every message of ours carries, the schema its data validates against)
CONTRACT: dict[str, tuple[str, str]] = {
    topics.REFERRALS_RECEIVED: (ce.TYPE_RECEIVED, "ReferralReceived"),
    topics.REFERRALS_REJECTED: (ce.TYPE_REJECTED, "ReferralRejected"),
    topics.REFERRALS_DECIDED: (ce.TYPE_DECIDED, "Decision"),
    **{
        topics.assignments_topic(p): (ce.TYPE_ASSIGNED, "Assignment") for p in topics.PROVIDER_CODES
    },
    topics.ASSIGNMENTS_RESPONSES: (ce.TYPE_RESPONSE, "ProviderResponse"),
    topics.OPS_EVENTS: (ce.TYPE_OPS_EVENT, "OpsEvent"),
    topics.OPS_ALERTS: (ce.TYPE_OPS_ALERT, "OpsAlert"),
    topics.OPS_DEADLETTER: (ce.TYPE_DEADLETTER, "DeadLetter"),
}
OUR_SOURCES = frozenset(f"urn:nottssas:{service.value}" for service in Service)

Marks = dict[TopicPartition, int]


@cache
def validator(schema: str) -> Draft202012Validator:
    document = json.loads((ROOT / "schemas" / f"{schema}.schema.json").read_text())
    Draft202012Validator.check_schema(document)
    return Draft202012Validator(document, format_checker=Draft202012Validator.FORMAT_CHECKER)


def is_ours(headers: list[tuple[str, bytes]]) -> bool:
    sources = [value for name, value in headers if name.lower() == "ce_source"]
    try:
        return any(source.decode() in OUR_SOURCES for source in sources)
    except UnicodeDecodeError:
        return False


def _deepest(error: ValidationError) -> ValidationError:
    """For a failed anyOf (a clear or a sealed submission), the branch's error that went
    deepest, so the report names the field rather than the union."""
    return _deepest(best_match(error.context)) if error.context else error


def problem(
    topic: str, headers: list[tuple[str, bytes]], key: bytes | None, value: bytes | None
) -> str | None:
    """Why this message of ours breaks the contract, or None when it keeps it."""
    names = [name.lower() for name, _ in headers]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        return f"headers repeated: {repeated}"  # the SDK would silently keep the last one
    # The SDK fills in a missing id (a fresh UUID) and specversion (1.0); the binding requires
    # every required attribute as a header, so their absence is checked here first.
    absent = [h for h in ("ce_id", "ce_source", "ce_type", "ce_specversion") if h not in names]
    if absent:
        return f"required headers missing: {absent}"
    expected_type, schema = CONTRACT[topic]
    try:
        event = from_binary_event(KafkaMessage(headers=dict(headers), key=key, value=value or b""))
    except Exception as error:  # the SDK's whole hierarchy, and bad UTF-8 or time in a header
        return f"not a CloudEvent ({type(error).__name__}: {str(error)[:300]})"
    if event.get_type() != expected_type:
        return f"ce_type is {event.get_type()!r}, expected {expected_type!r}"
    if event.get_datacontenttype() != ce.CONTENT_TYPE:
        return f"content-type is {event.get_datacontenttype()!r}, expected {ce.CONTENT_TYPE!r}"
    errors = sorted(
        (_deepest(e) for e in validator(schema).iter_errors(event.get_data())),
        key=lambda e: e.json_path,
    )
    if errors:  # where and which rule failed, not the failing value (it may be personal)
        return f"data fails {schema}: " + "; ".join(
            f"{e.json_path} ({e.validator})" for e in errors[:5]
        )
    return None


@dataclass
class Report:
    ours: dict[str, int] = field(default_factory=dict)
    foreign: dict[str, int] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)


async def mark(bootstrap: str, names: tuple[str, ...] = tuple(CONTRACT)) -> Marks:
    """The end offset of every partition of `names`, now: where a later check starts."""
    # Subscribed (without a group, so nothing is committed): start() waits for the metadata
    # of these topics, which is what tells their partitions.
    consumer = AIOKafkaConsumer(
        *names, bootstrap_servers=bootstrap, enable_auto_commit=False, **connection()
    )
    await consumer.start()
    try:
        partitions = [
            TopicPartition(name, p)
            for name in names
            for p in sorted(consumer.partitions_for_topic(name) or ())
        ]
        missing = sorted(set(names) - {tp.topic for tp in partitions})
        if missing:
            raise RuntimeError(f"topics unknown to the broker: {missing}")
        ends: Marks = await consumer.end_offsets(partitions)
        return ends
    finally:
        await consumer.stop()


async def check_since(bootstrap: str, marks: Marks, *, timeout: float = 60.0) -> Report:
    """Read every partition from its mark to its present end and judge each message."""
    report = Report()
    if not marks:
        return report
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, enable_auto_commit=False, **connection()
    )
    await consumer.start()
    try:
        consumer.assign(list(marks))
        ends = await consumer.end_offsets(list(marks))
        for tp, start in marks.items():
            consumer.seek(tp, start)
        pending = {tp for tp in marks if ends[tp] > marks[tp]}
        deadline = time.monotonic() + timeout
        while pending and time.monotonic() < deadline:
            batches = await consumer.getmany(*pending, timeout_ms=500)
            for tp, messages in batches.items():
                for m in messages:
                    if m.offset < ends[tp]:
                        _judge(report, tp.topic, m)
            pending = {tp for tp in pending if await consumer.position(tp) < ends[tp]}
        if pending:
            report.problems.append(f"not read to the end within {timeout} s: {sorted(pending)}")
    finally:
        await consumer.stop()
    return report


def _judge(report: Report, topic: str, m: Any) -> None:
    headers = list(m.headers or ())
    if not is_ours(headers):
        report.foreign[topic] = report.foreign.get(topic, 0) + 1
        return
    report.ours[topic] = report.ours.get(topic, 0) + 1
    found = problem(topic, headers, m.key, m.value)
    if found is not None:
        report.problems.append(f"{topic}@{m.partition}:{m.offset}: {found}")


async def assert_valid_cloudevents(
    bootstrap: str, marks: Marks, *, expect: tuple[str, ...] = ()
) -> Report:
    """Every message of ours since `marks` is valid; each topic in `expect` has at least one."""
    report = await check_since(bootstrap, marks)
    assert not report.problems, "messages break the contract:\n" + "\n".join(report.problems)
    missing = [name for name in expect if not report.ours.get(name)]
    assert not missing, f"no message of ours on {missing}; read {report.ours}"
    return report
