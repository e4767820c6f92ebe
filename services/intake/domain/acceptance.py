"""Acceptance of a submission: the checks that need a clock, and idempotency by digest.

Rules kept here:
- a submission stamped in the future (beyond the allowed clock skew) is refused, naming
  `submitted_at`; dates inside the submission are checked against `submitted_at` by the
  contract model itself;
- text containing the NUL character (U+0000) is refused, naming each such field: it cannot be
  stored (PostgreSQL text and jsonb reject it) and no real referral needs it;
- two submissions are "the same" when their canonical JSON is byte-identical after
  validation (so key order and postcode spacing do not matter, content does);
- one rule on every path (HTTP with or without an Idempotency-Key, Kafka):
  `(agency, submission_id)` identifies a submission; the same content again returns the
  original referral; different content is a conflict naming `submission_id`;
- an Idempotency-Key is an optional extra name for a submission: the first submission sent
  with it owns it, and the key sent again with another submission_id is a conflict naming
  the `Idempotency-Key` header.

Errors (all subclass IntakeError):
    IntakeError
     +-- SubmissionRefused          the body is valid JSON but breaks a rule (422)
     +-- IdempotencyConflict        a conflict with what was accepted before (409)
          +-- SubmissionConflict    same submission_id, different content
          +-- IdempotencyKeyConflict  the key already names another submission
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from uuid import NAMESPACE_URL, UUID, uuid5

from shared import (
    FieldError,
    OpsEvent,
    ReferralReceived,
    ReferralState,
    ReferralSubmission,
    RoutingFacts,
    SealedSubmission,
    Service,
)


class IntakeError(Exception):
    """Base of intake's refusals."""


class SubmissionRefused(IntakeError):
    def __init__(self, errors: list[FieldError]) -> None:
        super().__init__(", ".join(f"{e.field}: {e.message}" for e in errors))
        self.errors = errors


class IdempotencyConflict(IntakeError):
    """A conflict with an earlier submission; `field` names what conflicts."""

    field = "submission_id"

    def __init__(self, referral_id: UUID | None) -> None:
        super().__init__(f"{self.field} was already used for a different submission")
        self.referral_id = referral_id


class SubmissionConflict(IdempotencyConflict):
    field = "submission_id"


class IdempotencyKeyConflict(IdempotencyConflict):
    field = "Idempotency-Key"


@dataclass(frozen=True)
class Acceptance:
    """The outcome of a submission: its referral id, and whether it was new."""

    referral_id: UUID
    created: bool
    received_at: datetime


def body_digest(submission: ReferralSubmission) -> bytes:
    return hashlib.sha256(submission.model_dump_json().encode()).digest()


def clock_problems(
    submission: ReferralSubmission, now: datetime, skew: timedelta
) -> list[FieldError]:
    if submission.submitted_at > now + skew:
        return [FieldError(field="submitted_at", code="date_in_future", message="is in the future")]
    return []


def text_problems(submission: ReferralSubmission) -> list[FieldError]:
    """The fields (dotted paths, as in validation errors) whose text contains U+0000."""
    return [
        FieldError(field=path, code="nul_character", message="contains a NUL (U+0000) character")
        for path in _paths_with_nul(submission.model_dump(mode="json"), "")
    ]


def _paths_with_nul(value: object, path: str) -> list[str]:
    if isinstance(value, str):
        return [path or "body"] if "\x00" in value else []
    if isinstance(value, dict):
        return [
            p
            for key, item in value.items()
            for p in _paths_with_nul(item, f"{path}.{key}" if path else str(key))
        ]
    if isinstance(value, list):
        return [p for i, item in enumerate(value) for p in _paths_with_nul(item, f"{path}[{i}]")]
    return []


def received_event(
    referral_id: UUID,
    received_at: datetime,
    agency_id: str,
    submission: ReferralSubmission | SealedSubmission,
    routing: RoutingFacts | None = None,
) -> ReferralReceived:
    return ReferralReceived(
        referral_id=referral_id,
        received_at=received_at,
        referrer_agency=agency_id,
        submission=submission,
        routing=routing,
    )


def received_ops_event(referral_id: UUID, received_at: datetime) -> OpsEvent:
    """The PII-free `ops.events.v1` record of an accepted referral (its id is stable)."""
    return OpsEvent(
        event_id=uuid5(NAMESPACE_URL, f"urn:nottssas:received:{referral_id}"),
        at=received_at,
        service=Service.INTAKE,
        state=ReferralState.RECEIVED,
        referral_id=referral_id,
    )


def rejected_ops_event(event_id: UUID, at: datetime, reason_code: str) -> OpsEvent:
    """The PII-free record of a refused Kafka submission: a reason code, no ids."""
    return OpsEvent(
        event_id=event_id,
        at=at,
        service=Service.INTAKE,
        state=ReferralState.REJECTED,
        reason_code=reason_code,
    )
