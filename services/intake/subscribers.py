"""Intake's Kafka entry points: submissions from agencies, and the timeline's sources.

Where a submission's agency comes from (README "Kafka ingress trust model"):
- `referrals.submitted.<agency>.v1`: from the topic name. The broker's ACLs let only that
  agency's principal (made by `agency-add`) write it, so the topic is the writer's identity.
  The `agency-id` header is never believed: one naming another agency is only noted in the log
  (`agency_header_mismatch`, no value). A topic naming an agency intake does not know (no row
  in `agencies`, which `agency-add` writes) is dead-lettered `unknown_agency`: no agency may
  have referrals stored under it, and there is no one to answer;
- `referrals.submitted.v1` (clients written for v1; in production only the bridge principal
  may write it): from the `agency-id` header, which must name one of INTAKE_KAFKA_AGENCIES,
  else the submission is rejected naming the header.
The subscribers are thin: they read the envelope and the agency, and hand the rest to
`handlers.handle_submission` (accepted once per (agency, submission id), or rejected through
the outbox naming each field at fault) and to the timeline handlers. A body that cannot be
decoded is a poison message: dead-lettered and acknowledged, never redelivered in a loop.
The timeline's inputs (`referrals.decided.v1`, `ops.events.v1`) are taken in batches
(`services.common.kafka_batch`): each record is read alone through the single-message edge, a
bad one is dead-lettered with its reason while the rest take effect, and the offsets are
committed once per batch. Every subscriber is durable (its own group, NACK_ON_ERROR): a failed
transaction redelivers (a timeline entry is once per source event, so a redelivered batch adds
nothing twice).
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import Any, TypeVar

import structlog
from faststream import StreamMessage
from faststream.kafka import KafkaBroker, KafkaMessage

from services.common.edge import safe_field
from services.common.envelope import EnvelopeRefused, UndecodableBody, read_event
from services.common.kafka import POISON, DeadLetterer, PoisonMessage, durable_subscriber
from services.common.kafka_batch import batch_subscriber, read_record, record_span
from services.common.topic_identity import durable_pattern_subscriber, record_topic
from services.intake import handlers
from services.intake.domain.rejection import AGENCY_HEADER, envelope_error, unknown_agency_header
from services.intake.ports import Accept, KafkaSubmission, Rejection, RejectionStore, TimelineStore
from shared import Decision, FieldError, OpsEvent
from shared.topics import (
    OPS_EVENTS,
    REFERRALS_DECIDED,
    REFERRALS_SUBMITTED,
    SUBMISSIONS_TOPIC_PATTERN,
    agency_of_topic,
)

log = structlog.get_logger(__name__)
Event = TypeVar("Event", Decision, OpsEvent)
# The timeline's inputs are taken in batches (as the router's and the gateway's): one offset
# commit per batch instead of one per message; every service's ops events pass here (several
# per referral) and nearly none is a timeline step. At most BATCH_MAX records, waiting at most
# BATCH_WAIT_MS to fill a batch. The broker holds each fetch until FILL_BYTES (about a hundred
# events) are there or FILL_WAIT_MS has passed: a status step is shown at most that much later,
# and under load a batch is many records, not the one or two that arrived since the last.
BATCH_MAX = 100
BATCH_WAIT_MS = 20
FILL_BYTES = 64 * 1024
FILL_WAIT_MS = 250


@dataclass(frozen=True)
class Wiring:
    """What the subscribers call; each store is given once the lifespan has made the pool."""

    accept: Accept
    rejections: Callable[[], RejectionStore]
    timeline: Callable[[], TimelineStore]
    agency_known: Callable[[str], Awaitable[bool]]
    header_agencies: frozenset[str]
    now: Callable[[], datetime]


async def _undecoded(msg: StreamMessage[Any]) -> Any:
    """Decoder that leaves the body as bytes: the envelope is read here, by `read_event`."""
    return msg.body


def register_subscribers(broker: KafkaBroker, wiring: Wiring, *, dead_letter: DeadLetterer) -> None:
    """Subscribe intake's handlers: submissions (shared topic and agencies' own), timeline;
    `dead_letter` letters a bad record of a timeline batch (the middleware letters the others)."""

    @durable_subscriber(
        broker,
        REFERRALS_SUBMITTED,
        group_id="intake-submissions",
        decoder=_undecoded,
        title="intake/submissions",
        description="Referral submissions from agency systems (ReferralSubmission).",
    )
    async def on_submitted(msg: KafkaMessage) -> None:
        agency = _headers(msg).get(AGENCY_HEADER)
        refusal = None if agency in wiring.header_agencies else unknown_agency_header()
        await _submission(wiring, msg, agency, refusal)

    @durable_pattern_subscriber(
        broker,
        SUBMISSIONS_TOPIC_PATTERN,
        group_id="intake-agency-submissions",
        decoder=_undecoded,
        title="intake/agency-submissions",
        description="Submissions on each agency's own topic; the agency is the topic's.",
    )
    async def on_agency_submitted(msg: KafkaMessage) -> None:
        agency = agency_of_topic(record_topic(msg))
        if agency is None or not await wiring.agency_known(agency):
            raise PoisonMessage("unknown_agency")
        if _headers(msg).get(AGENCY_HEADER, agency) != agency:
            log.info("agency header ignored", agency=agency, agency_header_mismatch=True)
        await _submission(wiring, msg, agency, None)

    # The timeline's inputs: batches the broker fills (see BATCH_MAX and FILL_BYTES above).
    timeline_input = partial(
        batch_subscriber,
        broker,
        max_records=BATCH_MAX,
        timeout_ms=BATCH_WAIT_MS,
        fill_bytes=FILL_BYTES,
        fill_wait_ms=FILL_WAIT_MS,
    )

    @timeline_input(REFERRALS_DECIDED, group_id="intake-timeline", title="intake/decisions")
    async def on_decided(message: KafkaMessage) -> None:
        store = wiring.timeline()

        async def record(decision: Decision) -> None:
            if decision.referral_id is None:
                raise PoisonMessage("decision_without_referral_id")
            await handlers.record_decision(store, decision.referral_id, decision)

        await _each(message, REFERRALS_DECIDED, Decision, "decision", record, dead_letter)

    @timeline_input(OPS_EVENTS, group_id="intake-timeline-ops", title="intake/ops-events")
    async def on_ops_event(message: KafkaMessage) -> None:
        store = wiring.timeline()

        async def record(event: OpsEvent) -> None:
            await handlers.record_ops_event(store, event)

        await _each(message, OPS_EVENTS, OpsEvent, "event", record, dead_letter)


async def _each(  # noqa: PLR0917 - the batch, how to read each record, what to do with it
    message: KafkaMessage,
    topic: str,
    model: type[Event],
    parameter: str,
    record: Callable[[Event], Awaitable[None]],
    dead_letter: DeadLetterer,
) -> None:
    """Each record of the batch read alone and recorded in its own trace; a bad one is
    dead-lettered with its reason once the others have taken effect (a store failure raises:
    the whole batch is redelivered, and what it recorded is found recorded)."""
    refused: list[tuple[Any, BaseException]] = []
    for raw in message.raw_message:
        try:
            event, headers = await read_record(raw, model, parameter=parameter)
            with record_span(topic, headers):
                await record(event)
        except POISON as exc:
            refused.append((raw, exc))
    for raw, error in refused:
        await dead_letter(raw, error)


def _headers(msg: KafkaMessage) -> dict[str, str]:
    return {k: (v.decode() if isinstance(v, bytes) else v) for k, v in msg.headers.items()}


def _source(msg: KafkaMessage) -> str:
    """The record's place in Kafka (topic, partition, offset): the same on a redelivery."""
    record = msg.raw_message
    assert not isinstance(record, tuple), "a single record, not a batch"
    return f"{record.topic}:{record.partition}:{record.offset}"


async def _submission(
    wiring: Wiring, msg: KafkaMessage, agency_id: str | None, refusal: FieldError | None
) -> None:
    """Read the envelope, then accept the submission as `agency_id`'s or reject it."""
    try:
        raw = read_event(_headers(msg), msg.body, structured=True)
    except UndecodableBody:
        raise PoisonMessage("unparseable_json") from None
    except EnvelopeRefused as exc:
        # Not a CloudEvent we accept: refused like an unknown agency, naming the header, and
        # under its submission id if the body shows one, so the agency can match it.
        raw, refusal = _json_or_none(msg.body), envelope_error(exc.field, exc.code)
    message = KafkaSubmission(raw, agency_id, _source(msg), refusal)
    outcome = await handlers.handle_submission(
        wiring.accept, wiring.rejections(), message, now=wiring.now
    )
    if isinstance(outcome, Rejection):
        fields = sorted({safe_field(e.field) for e in outcome.errors})
        log.info("submission rejected", channel="kafka", error_fields=fields, new=outcome.new)
    else:
        log.info(
            "referral accepted",
            created=outcome.created,
            channel="kafka",
            referral_id=str(outcome.referral_id),
        )


def _json_or_none(body: bytes) -> Any:
    try:
        return json.loads(body)
    except (ValueError, RecursionError):
        return None
