"""The seams between intake's use cases and its adapters.

The use cases (`handlers`) depend on these protocols and values only; the asyncpg store
(`adapters.store.IntakeStore`) and the tests' in-memory fakes implement them, so the seam
points from the adapter to the use case, never back. Values crossing a seam are frozen.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol
from uuid import UUID

from services.common.outbox import OutboxMessage
from services.common.sealing import WrappedKey
from services.intake.domain import Acceptance
from services.intake.domain.erasure import Erasure, ErasureRequest
from shared import FieldError, ReferralSubmission, RoutingFacts, SealedSubmission


@dataclass(frozen=True)
class StoredReferral:
    """What the store keeps of an accepted submission to recognise it again."""

    referral_id: UUID
    body_digest: bytes
    received_at: datetime
    submission_id: str


@dataclass(frozen=True)
class TimelineEntry:
    """One step of a referral's status timeline, as an agency reads it."""

    state: str
    at: datetime
    provider: str | None
    pathway: str | None
    priority: str | None


@dataclass(frozen=True)
class KafkaSubmission:
    """One message read off a submissions topic: its JSON, its agency, where it came from.

    `source` names the record (topic, partition, offset): the rejection's id is derived from
    it. `refusal` is the subscriber's finding before the body is read (the envelope, the
    agency header); `agency_id` None is an agency that could not be established.
    """

    raw: Any
    agency_id: str | None
    source: str
    refusal: FieldError | None = None

    @property
    def submission_id(self) -> str | None:
        found = self.raw.get("submission_id") if isinstance(self.raw, dict) else None
        return found if isinstance(found, str) else None


@dataclass(frozen=True)
class Rejection:
    """A refused submission: its id, the fields at fault, and whether it was answered now."""

    rejection_id: UUID
    reason_code: str
    errors: list[FieldError]
    new: bool


@dataclass(frozen=True)
class StatusChange:
    """A step of a referral another service announced, once per `source_event_id`."""

    referral_id: UUID
    state: str
    at: datetime
    source_event_id: str
    provider: str | None = None
    pathway: str | None = None
    priority: str | None = None


class ReferralStore(Protocol):
    """Referrals with their outbox rows (see adapters.store.IntakeStore)."""

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


class RejectionStore(Protocol):
    """Queues a rejection's events once per rejection id, in one transaction."""

    async def queue_rejection(
        self, rejection_id: UUID, at: datetime, messages: Sequence[OutboxMessage]
    ) -> bool:
        """Queue `messages` unless `rejection_id` was queued before; False if it was."""
        ...


class TimelineStore(Protocol):
    """The status timeline that other services' events add to."""

    async def record_status(self, change: StatusChange) -> bool:
        """Add `change` once per source event; False for a duplicate or unknown referral."""
        ...


class TimelineReader(Protocol):
    """An agency's view of its referrals (see adapters.store.IntakeStore.timeline)."""

    async def timeline(
        self, referral_id: UUID, agency_id: str
    ) -> tuple[str, list[TimelineEntry]] | None: ...


@dataclass(frozen=True)
class SealedReferral:
    """What intake keeps and publishes of one accepted submission."""

    submission: SealedSubmission | ReferralSubmission
    routing: RoutingFacts
    data_key: WrappedKey | None


class Sealer(Protocol):
    """Seals a submission under a new data key for `referral_id` (`adapters.sealer`)."""

    def __call__(
        self, referral_id: UUID, submission: ReferralSubmission, received_at: datetime
    ) -> SealedReferral: ...


class Accept(Protocol):
    """The acceptance use case bound to the process's store, clock, ids and sealer."""

    async def __call__(
        self,
        submission: ReferralSubmission,
        *,
        agency_id: str,
        idempotency_key: str | None,
        channel: str,
    ) -> Acceptance: ...


class ErasurePort(Protocol):
    """Erases one referral in one transaction; finds those due for retention."""

    async def erase(
        self,
        request: ErasureRequest,
        at: datetime,
        announce: Callable[[UUID], Sequence[OutboxMessage]],
    ) -> Erasure: ...

    async def retention_candidates(
        self, cutoff: datetime, closing_states: frozenset[str], limit: int
    ) -> list[UUID]: ...
