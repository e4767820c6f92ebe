"""Intake's use cases: accept a submission (HTTP or Kafka) and record status changes.

Handlers take their collaborators as arguments (a store, a clock, an id source) and hold no
rules of their own beyond orchestration; the rules are in `domain/`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Protocol
from uuid import UUID

from services.common.outbox import OutboxMessage
from services.intake.adapters.store import StoredReferral
from services.intake.domain import (
    Accepted,
    IdempotencyConflict,
    SubmissionRefused,
    body_digest,
    clock_problems,
    received_event,
    received_ops_event,
    text_problems,
)
from shared import ReferralSubmission, Service, ce_headers
from shared.cloudevents import TYPE_OPS_EVENT, TYPE_RECEIVED
from shared.topics import OPS_EVENTS, REFERRALS_RECEIVED

SOURCE = f"urn:nottssas:{Service.INTAKE.value}"


class ReferralStore(Protocol):
    async def find(self, agency_id: str, idempotency_key: str) -> StoredReferral | None: ...

    async def insert_with_outbox(
        self,
        *,
        referral_id: UUID,
        agency_id: str,
        idempotency_key: str,
        submission_id: str,
        digest: bytes,
        submission: dict[str, object],
        channel: str,
        received_at: datetime,
        messages: Sequence[OutboxMessage],
    ) -> bool: ...


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
) -> Accepted:
    """Store a valid submission once per (agency, key), with its `referrals.received.v1` outbox row.

    Raises SubmissionRefused (a rule beyond the contract model: the clock, storable text)
    or IdempotencyConflict.
    """
    received_at = now()
    problems = text_problems(submission) + clock_problems(submission, received_at, clock_skew)
    if problems:
        raise SubmissionRefused(problems)
    key = idempotency_key or submission.submission_id
    digest = body_digest(submission)

    existing = await store.find(agency_id, key)
    if existing is None:
        referral_id = new_id()
        event = received_event(referral_id, received_at, agency_id, submission)
        message = OutboxMessage(
            topic=REFERRALS_RECEIVED,
            key=str(referral_id),
            headers=ce_headers(
                type=TYPE_RECEIVED,
                source=SOURCE,
                time=received_at,
                subject=str(referral_id),
                id=f"received:{referral_id}",
            ),
            payload=event.model_dump_json().encode(),
        )
        # Its PII-free announcement on ops.events.v1 commits with it, through the same outbox.
        ops = OutboxMessage(
            topic=OPS_EVENTS,
            key=str(referral_id),
            headers=ce_headers(
                type=TYPE_OPS_EVENT,
                source=SOURCE,
                time=received_at,
                subject=str(referral_id),
                id=f"ops:received:{referral_id}",
            ),
            payload=received_ops_event(referral_id, received_at).model_dump_json().encode(),
        )
        created = await store.insert_with_outbox(
            referral_id=referral_id,
            agency_id=agency_id,
            idempotency_key=key,
            submission_id=submission.submission_id,
            digest=digest,
            submission=submission.model_dump(mode="json"),
            channel=channel,
            received_at=received_at,
            messages=[message, ops],
        )
        if created:
            return Accepted(referral_id, created=True, received_at=received_at)
        # Lost a race with a concurrent duplicate: fall through to compare with the winner.
        existing = await store.find(agency_id, key)
        if existing is None:  # pragma: no cover - the winner's row must exist after a conflict
            raise RuntimeError("idempotency conflict without a stored referral")

    if existing.body_digest != digest:
        raise IdempotencyConflict(existing.referral_id)
    return Accepted(existing.referral_id, created=False, received_at=existing.received_at)
