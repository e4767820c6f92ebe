"""A hand-written fake of intake's store seams (`services.intake.ports`), for handler and wiring
tests, and
the acceptance use case bound to it (`accept`).

`FakeStore` keeps the real store's rules (`adapters/store.py`): (agency, submission_id) and
(agency, idempotency key) are unique, and a duplicate of either inserts nothing; a rejection's
rows are queued once per rejection id; a timeline entry is added once per source event, and
only for a referral that exists; `down` makes every call fail, as an unreachable database.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

from services.common.outbox import OutboxMessage
from services.common.sealing import EnvKek, WrappedKey
from services.intake.adapters.sealer import ReferralSealer
from services.intake.domain import Acceptance
from services.intake.handlers import accept_submission
from services.intake.ports import StatusChange, StoredReferral
from shared import ReferralSubmission


class StoreDown(Exception):
    """The fake database is unreachable."""


@dataclass
class FakeStore:
    """Intake's referral, rejection and timeline stores in dicts."""

    rows: dict[tuple[str, str], StoredReferral] = field(default_factory=dict)
    keys: dict[tuple[str, str], str] = field(default_factory=dict)
    outbox: list[OutboxMessage] = field(default_factory=list)
    data_keys: dict[UUID, WrappedKey] = field(default_factory=dict)
    submissions: dict[UUID, dict[str, Any]] = field(default_factory=dict)
    rejections: set[UUID] = field(default_factory=set)
    timeline: dict[str, tuple[UUID, str]] = field(default_factory=dict)
    agencies: set[str] = field(default_factory=set)
    down: bool = False

    def _reachable(self) -> None:
        if self.down:
            raise StoreDown("the database is unreachable")

    async def find(self, agency_id: str, submission_id: str) -> StoredReferral | None:
        self._reachable()
        return self.rows.get((agency_id, submission_id))

    async def key_owner(self, agency_id: str, idempotency_key: str) -> str | None:
        self._reachable()
        return self.keys.get((agency_id, idempotency_key))

    async def bind_key(self, agency_id: str, idempotency_key: str, submission_id: str) -> str:
        self._reachable()
        return self.keys.setdefault((agency_id, idempotency_key), submission_id)

    async def insert_with_outbox(self, **row: Any) -> bool:
        """The referral, its key, data key and outbox rows, all or nothing (`ReferralStore`)."""
        self._reachable()
        agency, submission_id, key = row["agency_id"], row["submission_id"], row["idempotency_key"]
        if (agency, submission_id) in self.rows or (agency, key) in self.keys:
            return False
        if key is not None:
            self.keys[(agency, key)] = submission_id
        referral_id: UUID = row["referral_id"]
        self.rows[(agency, submission_id)] = StoredReferral(
            referral_id, row["digest"], row["received_at"], submission_id
        )
        self.outbox.extend(row["messages"])
        if row["data_key"] is not None:
            self.data_keys[referral_id] = row["data_key"]
        self.submissions[referral_id] = row["submission"]
        return True

    async def queue_rejection(
        self, rejection_id: UUID, at: datetime, messages: Sequence[OutboxMessage]
    ) -> bool:
        self._reachable()
        if rejection_id in self.rejections:
            return False
        self.rejections.add(rejection_id)
        self.outbox.extend(messages)
        return True

    async def record_status(self, change: StatusChange) -> bool:
        """A timeline entry once per source event, for a known referral (`TimelineStore`)."""
        self._reachable()
        known = {r.referral_id for r in self.rows.values()}
        if change.referral_id not in known or change.source_event_id in self.timeline:
            return False
        self.timeline[change.source_event_id] = (change.referral_id, change.state)
        return True

    async def agency_known(self, agency_id: str) -> bool:
        self._reachable()
        return agency_id in self.agencies

    def take_outbox(self) -> list[OutboxMessage]:
        """The queued rows, as the relay would claim them (and forget them: sent)."""
        rows, self.outbox = self.outbox, []
        return rows


NOW = datetime(2026, 11, 20, 10, 20, tzinfo=UTC)
KEK = EnvKek.parse("v1:" + "k" * 43, "v1")


class OneCityPostcode:
    """A postcode directory that knows one city (Nottingham, NG7 2AH)."""

    def la_code(self, postcode: str) -> str | None:
        return "E06000018" if postcode == "NG7 2AH" else None

    def knows_la_code(self, code: str) -> bool:
        return code == "E06000018"


SEAL = ReferralSealer(KEK, OneCityPostcode())


async def accept(
    store: FakeStore,
    submission: ReferralSubmission,
    *,
    agency: str = "police",
    key: str | None = None,
) -> Acceptance:
    """The real acceptance use case over HTTP, on `store`, at NOW, sealing with SEAL."""
    return await accept_submission(
        store,
        submission,
        agency_id=agency,
        idempotency_key=key,
        channel="http",
        now=lambda: NOW,
        new_id=uuid4,
        clock_skew=timedelta(minutes=5),
        seal=SEAL,
    )
