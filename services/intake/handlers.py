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
from services.common.sealing import WrappedKey
from services.intake.adapters.store import StoredReferral
from services.intake.domain import (
    Accepted,
    IdempotencyKeyConflict,
    SubmissionConflict,
    SubmissionRefused,
    body_digest,
    clock_problems,
    received_event,
    received_ops_event,
    text_problems,
)
from services.intake.sealing import SealedReferral
from shared import ReferralSubmission, Service, ce_headers
from shared.cloudevents import TYPE_OPS_EVENT, TYPE_RECEIVED
from shared.topics import OPS_EVENTS, REFERRALS_RECEIVED

SOURCE = f"urn:nottssas:{Service.INTAKE.value}"


class ReferralStore(Protocol):
    async def find(self, agency_id: str, submission_id: str) -> StoredReferral | None: ...

    async def key_owner(self, agency_id: str, idempotency_key: str) -> str | None: ...

    async def bind_key(self, agency_id: str, idempotency_key: str, submission_id: str) -> str: ...

    async def insert_with_outbox(
        self,
        *,
        referral_id: UUID,
        agency_id: str,
        idempotency_key: str | None,
        submission_id: str,
        digest: bytes,
        submission: dict[str, object],
        channel: str,
        received_at: datetime,
        messages: Sequence[OutboxMessage],
        data_key: WrappedKey | None,
    ) -> bool: ...


class Sealer(Protocol):
    """Seals a submission under a new data key for `referral_id` (see `services.intake.sealing`)."""

    def __call__(
        self, referral_id: UUID, submission: ReferralSubmission, received_at: datetime
    ) -> SealedReferral: ...


# A lost race is followed by one more look; a third is only possible if rows vanish.
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
) -> Accepted:
    """Store a valid submission once per (agency, submission_id), with its outbox rows.

    `idempotency_key` (HTTP's optional header) is an extra name for the submission: the same
    key with another submission_id is refused. What is stored and announced is sealed by `seal`
    (personal fields under the referral's new data key, stored with it). Raises SubmissionRefused (a rule beyond the
    contract model: the clock, storable text), SubmissionConflict or IdempotencyKeyConflict.
    """
    received_at = now()
    problems = text_problems(submission) + clock_problems(submission, received_at, clock_skew)
    if problems:
        raise SubmissionRefused(problems)
    submission_id = submission.submission_id
    digest = body_digest(submission)

    for _ in range(_ATTEMPTS):
        owner = await store.key_owner(agency_id, idempotency_key) if idempotency_key else None
        if owner is not None and owner != submission_id:
            raise IdempotencyKeyConflict(None)
        existing = await store.find(agency_id, submission_id)
        if existing is not None:
            if existing.body_digest != digest:
                raise SubmissionConflict(existing.referral_id)
            if (
                idempotency_key
                and owner is None
                and await store.bind_key(agency_id, idempotency_key, submission_id) != submission_id
            ):
                raise IdempotencyKeyConflict(None)
            return Accepted(existing.referral_id, created=False, received_at=existing.received_at)
        referral_id = new_id()
        sealed = seal(referral_id, submission, received_at)
        created = await store.insert_with_outbox(
            referral_id=referral_id,
            agency_id=agency_id,
            idempotency_key=idempotency_key,
            submission_id=submission_id,
            digest=digest,
            submission=sealed.submission.model_dump(mode="json"),
            channel=channel,
            received_at=received_at,
            messages=_announcements(referral_id, received_at, agency_id, sealed),
            data_key=sealed.data_key,
        )
        if created:
            return Accepted(referral_id, created=True, received_at=received_at)
        # Lost a race with a concurrent submission (same submission_id or same key): nothing of
        # ours was written; look again and compare with the winner.
    raise RuntimeError("idempotency conflict without a stored winner")  # pragma: no cover


def _announcements(
    referral_id: UUID, received_at: datetime, agency_id: str, sealed: SealedReferral
) -> list[OutboxMessage]:
    """The sealed `referrals.received.v1` event and its PII-free `ops.events.v1` announcement."""
    event = received_event(referral_id, received_at, agency_id, sealed.submission, sealed.routing)
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
    return [message, ops]
