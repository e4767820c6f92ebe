"""Intake's Kafka ingress: submissions on each agency's own topic and on the shared v1 topic.

Where the agency comes from (README "Kafka ingress trust model"):
- `referrals.submitted.<agency>.v1`: from the topic name. The broker's ACLs let only that
  agency's principal (made by `agency-add`) write it, so the topic is the writer's identity.
  The `agency-id` header is never believed: one naming another agency is only noted in the log
  (`agency_header_mismatch`, no value). A topic naming an agency intake does not know (no row
  in `agencies`, which `agency-add` writes) is dead-lettered `unknown_agency`: no agency may
  have referrals stored under it, and there is no one to answer;
- `referrals.submitted.v1` (clients written for v1; in production only the bridge principal
  may write it): from the `agency-id` header, which must name one of INTAKE_KAFKA_AGENCIES,
  else the submission is rejected naming the header.
From there both take the HTTP API's use case (`accept`): accepted once per (agency,
submission id), or answered on `referrals.rejected.v1` naming each field at fault, with an
ops event giving the reason code. A body that cannot be decoded is a poison message:
dead-lettered and acknowledged, never redelivered in a loop.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any, Protocol
from uuid import uuid4

import structlog
from faststream import StreamMessage
from faststream.kafka import KafkaBroker, KafkaMessage
from pydantic import ValidationError

from services.common.edge import safe_field
from services.common.envelope import EnvelopeRefused, UndecodableBody, read_event
from services.common.kafka import PoisonMessage, durable_subscriber, publish_event
from services.common.topic_identity import durable_pattern_subscriber, record_topic
from services.intake import domain
from services.intake.domain import IdempotencyConflict, SubmissionRefused, rejected_ops_event
from services.intake.errors import validation_errors
from shared import FieldError, ReferralRejected, ReferralSubmission, Service
from shared.cloudevents import TYPE_OPS_EVENT, TYPE_REJECTED
from shared.topics import (
    OPS_EVENTS,
    REFERRALS_REJECTED,
    REFERRALS_SUBMITTED,
    SUBMISSIONS_TOPIC_PATTERN,
    agency_of_topic,
)

log = structlog.get_logger(__name__)
AGENCY_HEADER = "agency-id"


class Accept(Protocol):
    async def __call__(
        self,
        submission: ReferralSubmission,
        *,
        agency_id: str,
        idempotency_key: str | None,
        channel: str,
    ) -> domain.Accepted: ...


async def _undecoded(msg: StreamMessage[Any]) -> Any:
    """Decoder that leaves the body as bytes: the submissions handler parses it itself."""
    return msg.body


def register_submission_subscribers(
    broker: KafkaBroker,
    *,
    accept: Accept,
    agency_known: Callable[[str], Awaitable[bool]],
    header_agencies: frozenset[str],
) -> None:
    """Subscribe to the shared submissions topic and, by pattern, to every agency's own."""

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
        refusal = None if agency in header_agencies else _unknown_agency_header()
        await _submission(broker, accept, msg, agency, refusal)

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
        if agency is None or not await agency_known(agency):
            raise PoisonMessage("unknown_agency")
        if _headers(msg).get(AGENCY_HEADER, agency) != agency:
            log.info("agency header ignored", agency=agency, agency_header_mismatch=True)
        await _submission(broker, accept, msg, agency, None)


def _headers(msg: KafkaMessage) -> dict[str, str]:
    return {k: (v.decode() if isinstance(v, bytes) else v) for k, v in msg.headers.items()}


def _unknown_agency_header() -> FieldError:
    return FieldError(
        field=f"headers.{AGENCY_HEADER}",
        code="unknown_agency",
        message="is not a configured Kafka producer identity",
    )


async def _submission(
    broker: KafkaBroker,
    accept: Accept,
    msg: KafkaMessage,
    agency_id: str | None,
    refusal: FieldError | None,
) -> None:
    """Accept one submission as `agency_id`'s, or reject it naming the fields at fault."""
    errors: list[FieldError] = []
    try:
        raw = read_event(_headers(msg), msg.body, structured=True)
    except UndecodableBody:
        raise PoisonMessage("unparseable_json") from None
    except EnvelopeRefused as exc:
        # Not a CloudEvent we accept: refused like an unknown agency, naming the header, and
        # under its submission id if the body shows one, so the agency can match it.
        raw, errors = _json_or_none(msg.body), [envelope_error(exc)]
    submission_id = raw.get("submission_id") if isinstance(raw, dict) else None
    submission_id = submission_id if isinstance(submission_id, str) else None
    if not errors and (refusal is not None or agency_id is None):
        errors = [refusal or _unknown_agency_header()]
    elif not errors and agency_id is not None:
        try:
            submission = ReferralSubmission.model_validate(raw)
            accepted = await accept(
                submission, agency_id=agency_id, idempotency_key=None, channel="kafka"
            )
        except ValidationError as exc:
            errors = validation_errors(exc)
        except SubmissionRefused as exc:
            errors = exc.errors
        except IdempotencyConflict:
            errors = [
                FieldError(
                    field="submission_id",
                    code="conflict",
                    message="was already used for a different submission",
                )
            ]
        else:
            log.info(
                "referral accepted",
                created=accepted.created,
                channel="kafka",
                referral_id=str(accepted.referral_id),
            )
            return
    await _reject(broker, submission_id, agency_id, errors)


async def _reject(
    broker: KafkaBroker, submission_id: str | None, agency_id: str | None, errors: list[FieldError]
) -> None:
    rejected = ReferralRejected(
        submission_id=submission_id,
        rejected_at=datetime.now(UTC),
        referrer_agency=agency_id,
        errors=errors,
    )
    await publish_event(
        broker,
        rejected,
        topic=REFERRALS_REJECTED,
        key=submission_id,
        ce_type=TYPE_REJECTED,
        service=Service.INTAKE,
    )
    await publish_event(
        broker,
        rejected_ops_event(uuid4(), rejected.rejected_at, _rejection_code(errors)),
        topic=OPS_EVENTS,
        key=None,
        ce_type=TYPE_OPS_EVENT,
        service=Service.INTAKE,
    )
    log.info(
        "submission rejected",
        channel="kafka",
        error_fields=sorted({safe_field(e.field) for e in errors}),
    )


def _json_or_none(body: bytes) -> Any:
    try:
        return json.loads(body)
    except (ValueError, RecursionError):
        return None


def envelope_error(exc: EnvelopeRefused) -> FieldError:
    """The refusal of a submission that is not a CloudEvent we accept, naming the header."""
    return FieldError(
        field=exc.field,
        code=exc.code,
        message="is not a CloudEvents 1.0 binary or structured (application/cloudevents+json) envelope",
    )


def _rejection_code(errors: list[FieldError]) -> str:
    """A closed-set reason for ops: who refused what, never the details."""
    codes = {e.code for e in errors}
    for code in ("unknown_agency", "conflict"):
        if code in codes:
            return code
    if any(e.field.startswith("headers.") for e in errors):
        return "invalid_envelope"
    return "validation_failed"
