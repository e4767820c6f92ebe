"""Intake's use cases: accept a submission (HTTP, web or Kafka), answer a refused Kafka
submission, and record the status changes other services announce.

Rules kept here:
- handlers take their collaborators as arguments (the seams of `ports`, a clock, an id
  source) and hold no rules beyond orchestration; the rules are in `domain/`;
- what intake announces leaves through its outbox, in the transaction that stores what it
  reports, under an event id derived from what it reports: `received:<referral_id>` for an
  accepted referral, a uuid5 of the message for a rejection (`domain.rejection`); nothing
  here publishes to Kafka;
- a Kafka submission is accepted once per (agency, submission id) like any other, or
  rejected naming each field at fault; the same message redelivered is rejected once.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from uuid import UUID

from pydantic import BaseModel, ValidationError

from services.common.outbox import OutboxMessage
from services.common.outbox_events import cloudevent_message
from services.intake.domain import (
    Acceptance,
    IdempotencyConflict,
    IdempotencyKeyConflict,
    SubmissionConflict,
    SubmissionRefused,
    body_digest,
    clock_problems,
    received_event,
    received_ops_event,
    rejected_ops_event,
    text_problems,
)
from services.intake.domain.errors import validation_errors
from services.intake.domain.rejection import (
    ops_rejection_id,
    rejection_code,
    rejection_id,
    submission_conflict,
    unknown_agency_header,
)
from services.intake.domain.timeline import TIMELINE_STATES
from services.intake.ports import (
    Accept,
    KafkaSubmission,
    ReferralStore,
    Rejection,
    RejectionStore,
    Sealer,
    StatusChange,
    TimelineStore,
)
from shared import (
    Decision,
    FieldError,
    OpsEvent,
    ReferralRejected,
    ReferralSubmission,
    Service,
)
from shared.cloudevents import TYPE_OPS_EVENT, TYPE_RECEIVED, TYPE_REJECTED
from shared.topics import OPS_EVENTS, REFERRALS_RECEIVED, REFERRALS_REJECTED

# A taken submission (or a lost race) is followed by one more look; a third is only possible
# if rows vanish.
_ATTEMPTS = 3


async def accept_submission(
    store: ReferralStore,
    submission: ReferralSubmission,
    *,
    agency_id: str,
    idempotency_key: str | None,
    channel: str,
    now: Callable[[], datetime],
    new_id: Callable[[], UUID],
    clock_skew: timedelta,
    seal: Sealer,
) -> Acceptance:
    """Store a valid submission once per (agency, submission_id), with its outbox rows.

    `idempotency_key` (HTTP's optional header) is an extra name for the submission: the same
    key with another submission_id is refused. What is stored and announced is sealed by `seal`
    (personal fields under the referral's new data key, stored with it). Raises SubmissionRefused
    (a rule beyond the contract model: the clock, storable text), SubmissionConflict or
    IdempotencyKeyConflict.
    """
    received_at = now()
    problems = text_problems(submission) + clock_problems(submission, received_at, clock_skew)
    if problems:
        raise SubmissionRefused(problems)
    submission_id = submission.submission_id
    digest = body_digest(submission)

    for attempt in range(_ATTEMPTS):
        owner = await store.key_owner(agency_id, idempotency_key) if idempotency_key else None
        if owner is not None and owner != submission_id:
            raise IdempotencyKeyConflict(None)
        # A new submission is the common case: it is stored first (the insert writes nothing
        # if the submission is taken), and the stored one looked for only after that, or when
        # its key says it was seen: one statement, not two, for a new referral.
        existing = (
            await store.find(agency_id, submission_id) if attempt or owner is not None else None
        )
        if existing is not None:
            if existing.body_digest != digest:
                raise SubmissionConflict(existing.referral_id)
            if (
                idempotency_key
                and owner is None
                and await store.bind_key(agency_id, idempotency_key, submission_id) != submission_id
            ):
                raise IdempotencyKeyConflict(None)
            return Acceptance(existing.referral_id, created=False, received_at=existing.received_at)
        referral_id = new_id()
        sealed = seal(referral_id, submission, received_at)
        key = str(referral_id)
        at = received_at
        event = received_event(referral_id, at, agency_id, sealed.submission, sealed.routing)
        ops = received_ops_event(referral_id, at)
        created = await store.insert_with_outbox(
            referral_id=referral_id,
            agency_id=agency_id,
            idempotency_key=idempotency_key,
            submission_id=submission_id,
            digest=digest,
            submission=sealed.submission.model_dump(mode="json"),
            channel=channel,
            received_at=received_at,
            messages=[
                _message(event, REFERRALS_RECEIVED, key, TYPE_RECEIVED, f"received:{key}", at),
                _message(ops, OPS_EVENTS, key, TYPE_OPS_EVENT, f"ops:received:{key}", at),
            ],
            data_key=sealed.data_key,
        )
        if created:
            return Acceptance(referral_id, created=True, received_at=received_at)
        # Lost a race with a concurrent submission (same submission_id or same key): nothing of
        # ours was written; look again and compare with the winner.
    raise RuntimeError("idempotency conflict without a stored winner")  # pragma: no cover


async def handle_submission(
    accept: Accept,
    store: RejectionStore,
    message: KafkaSubmission,
    *,
    now: Callable[[], datetime],
) -> Acceptance | Rejection:
    """Accept the submission as its agency's, or queue its rejection naming the fields."""
    errors = [message.refusal] if message.refusal is not None else []
    if not errors and message.agency_id is None:
        errors = [unknown_agency_header()]
    if not errors and message.agency_id is not None:
        try:
            submission = ReferralSubmission.model_validate(message.raw)
            return await accept(
                submission, agency_id=message.agency_id, idempotency_key=None, channel="kafka"
            )
        except ValidationError as exc:
            errors = validation_errors(exc)
        except SubmissionRefused as exc:
            errors = exc.errors
        except IdempotencyConflict:
            errors = [submission_conflict()]
    return await reject(store, message, errors, at=now())


async def reject(
    store: RejectionStore, message: KafkaSubmission, errors: list[FieldError], *, at: datetime
) -> Rejection:
    """Queue the rejection on `referrals.rejected.v1` and its ops copy, once per message."""
    code = rejection_code(errors)
    submission_id = message.submission_id
    rid = rejection_id(message.source, submission_id, code)
    rejected = ReferralRejected(
        submission_id=submission_id,
        rejected_at=at,
        referrer_agency=message.agency_id,
        errors=errors,
    )
    ops_id = ops_rejection_id(rid)
    new = await store.queue_rejection(
        rid,
        at,
        [
            _message(rejected, REFERRALS_REJECTED, submission_id, TYPE_REJECTED, str(rid), at),
            _message(
                rejected_ops_event(ops_id, at, code),
                OPS_EVENTS,
                None,
                TYPE_OPS_EVENT,
                str(ops_id),
                at,
            ),
        ],
    )
    return Rejection(rid, code, errors, new)


def _message(  # noqa: PLR0917 - the six parts of a row, read as one line at each call
    event: BaseModel, topic: str, key: str | None, ce_type: str, event_id: str, at: datetime
) -> OutboxMessage:
    """An event as an outbox row (`services.common.outbox_events`), its id stable."""
    return cloudevent_message(
        Service.INTAKE, event, topic=topic, key=key, ce_type=ce_type, event_id=event_id, at=at
    )


async def record_decision(store: TimelineStore, referral_id: UUID, decision: Decision) -> bool:
    """Add the router's decision to the referral's timeline, once per decision."""
    change = StatusChange(
        referral_id=referral_id,
        state="decided",
        at=decision.decided_at,
        source_event_id=f"decided:{referral_id}",
        provider=decision.provider,
        pathway=decision.pathway,
        priority=decision.priority,
    )
    return await store.record_status(change)


async def record_ops_event(store: TimelineStore, event: OpsEvent) -> bool:
    """Add a delivery step the gateway announced to the timeline, once per event."""
    if event.referral_id is None or event.state not in TIMELINE_STATES:
        return False
    change = StatusChange(
        referral_id=event.referral_id,
        state=event.state.value,
        at=event.at,
        source_event_id=str(event.event_id),
        provider=event.provider,
    )
    return await store.record_status(change)
