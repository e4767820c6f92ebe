"""In-memory fakes of the gateway's stores, for handler and route tests (no database).

They keep the same rules the SQL keeps (the contract suites, test_*_contract.py, hold them
to the PostgreSQL stores): one decision and one ReferralReceived per referral, none kept once
the referral is erased, one response per (assignment, status), a half-missing alert only for a
referral with one half, and a transaction that raises keeps nothing it wrote; superseding
cancels nothing here because the fakes do not model deliveries; `emitted` collects what a
transaction queued for Kafka.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID

from services.provider_gateway.domain import State
from services.provider_gateway.ports import AssignmentRow
from shared import Assignment, Decision, ProviderResponse, ReferralReceived, SealedSubmission
from tests.support.emits import Emitted, RecordsEmits


@dataclass
class FakeReferralStore:
    received: dict[UUID, ReferralReceived] = field(default_factory=dict)
    decisions: dict[UUID, Decision] = field(default_factory=dict)
    rows: dict[str, AssignmentRow] = field(default_factory=dict)
    bodies: dict[str, Assignment] = field(default_factory=dict)
    channels: dict[str, tuple[str, ...]] = field(default_factory=dict)
    responses: dict[tuple[str, str], ProviderResponse] = field(default_factory=dict)
    emitted: list[Emitted] = field(default_factory=list)
    half_alerted: set[tuple[UUID, str]] = field(default_factory=set)  # (referral, half)
    erased: set[UUID] = field(default_factory=set)
    batches: list[list[UUID]] = field(default_factory=list)  # the referrals of each batch

    @asynccontextmanager
    async def referral(self, referral_id: UUID) -> AsyncIterator[FakeReferralTx]:
        # All or nothing, as the SQL transaction: what a raising block wrote is put back.
        kept = {f.name: copy.copy(getattr(self, f.name)) for f in dataclasses.fields(self)}
        try:
            yield FakeReferralTx(self, referral_id)
        except BaseException:
            for name, value in kept.items():
                setattr(self, name, value)
            raise

    @asynccontextmanager
    async def referrals(
        self, referral_ids: Iterable[UUID]
    ) -> AsyncIterator[Callable[[UUID], FakeReferralTx]]:
        """A batch's transaction (adapters.referral_batch): all of it, or none of it."""
        locked = set(referral_ids)
        self.batches.append(sorted(locked))

        def unit(referral_id: UUID) -> FakeReferralTx:
            assert referral_id in locked, "work on a referral the batch did not lock"
            return FakeReferralTx(self, referral_id)

        kept = {f.name: copy.copy(getattr(self, f.name)) for f in dataclasses.fields(self)}
        try:
            yield unit
        except BaseException:
            for name, value in kept.items():
                if name != "batches":
                    setattr(self, name, value)
            raise

    async def overdue(self, now: datetime, limit: int = 100) -> list[UUID]:
        return sorted(
            {
                r.referral_id
                for r in self.rows.values()
                if r.state is State.ASSIGNED
                and r.overdue_at is None
                and r.superseded_at is None
                and r.sla_due_at <= now
            }
        )[:limit]

    def of_topic(self, topic: str) -> list[Any]:
        return [e.event for e in self.emitted if e.topic == topic]

    def states(self, topic: str = "ops.events.v1") -> list[str]:
        return [e.state.value for e in self.of_topic(topic)]


class FakeReferralTx(RecordsEmits):
    def __init__(self, store: FakeReferralStore, referral_id: UUID) -> None:
        self._s = store
        self.referral_id = referral_id

    async def save_received(self, event: ReferralReceived) -> bool:
        if event.referral_id in self._s.erased:
            return False  # details arriving after their referral was erased are not kept
        return self._s.received.setdefault(event.referral_id, event) is event

    async def save_decision(self, decision: Decision) -> bool:
        assert decision.referral_id is not None
        return self._s.decisions.setdefault(decision.referral_id, decision) is decision

    async def received(self) -> ReferralReceived | None:
        return self._s.received.get(self.referral_id)

    async def decision(self) -> Decision | None:
        return self._s.decisions.get(self.referral_id)

    async def assignments(self) -> list[AssignmentRow]:
        mine = [r for r in self._s.rows.values() if r.referral_id == self.referral_id]
        return sorted(mine, key=lambda r: r.round)

    async def body(self, assignment_id: str) -> Assignment:
        return self._s.bodies[assignment_id]

    async def add_assignment(
        self,
        assignment: Assignment,
        *,
        round_no: int,
        sla_due_at: datetime,
        channels: Sequence[str],
    ) -> None:
        assert assignment.assignment_id not in self._s.rows
        d = assignment.decision
        self._s.rows[assignment.assignment_id] = AssignmentRow(
            assignment_id=assignment.assignment_id,
            referral_id=assignment.referral_id,
            round=round_no,
            provider=assignment.provider,
            reason=assignment.reason,
            priority=d.priority,
            pathway=d.pathway,
            state=State.ASSIGNED,
            created_at=assignment.assigned_at,
            sla_due_at=sla_due_at,
            delivered_at=None,
            overdue_at=None,
            superseded_at=None,
        )
        self._s.bodies[assignment.assignment_id] = assignment
        self._s.channels[assignment.assignment_id] = tuple(channels)

    def _update(self, assignment_id: str, **changes: Any) -> None:
        self._s.rows[assignment_id] = dataclasses.replace(self._s.rows[assignment_id], **changes)

    async def supersede(self, assignment_id: str, at: datetime) -> None:
        self._update(assignment_id, superseded_at=at)

    async def has_response(self, assignment_id: str, response: ProviderResponse) -> bool:
        return (assignment_id, response.status.value) in self._s.responses

    async def save_response(
        self, assignment_id: str, response: ProviderResponse, *, channel: str, state: State
    ) -> None:
        self._s.responses[(assignment_id, response.status.value)] = response
        self._update(assignment_id, state=state)

    async def mark_overdue(self, assignment_id: str, at: datetime) -> None:
        self._update(assignment_id, overdue_at=at)

    async def mark_half_alerted(self, at: datetime) -> bool:
        # As the SQL: each stored half is marked once; False when no half was left to mark.
        halves = {
            "received": self.referral_id in self._s.received,
            "decision": self.referral_id in self._s.decisions,
        }
        marked = {(self.referral_id, h) for h, stored in halves.items() if stored}
        new = marked - self._s.half_alerted
        self._s.half_alerted |= new
        return bool(new)

    def _recorded(self, emitted: Emitted) -> None:
        self._s.emitted.append(emitted)


@dataclass
class FakeFetchAudit:
    """The fetch audit and erased referrals (adapters.erasure_store.ErasureStore), in memory."""

    erased: dict[UUID, datetime] = field(default_factory=dict)
    fetches: list[tuple[UUID, str, int]] = field(default_factory=list)

    async def erased_at(self, referral_id: UUID) -> datetime | None:
        return self.erased.get(referral_id)

    async def audit_fetch(
        self, referral_id: UUID, provider: Any, at: datetime, status: int
    ) -> None:
        self.fetches.append((referral_id, provider.value, status))


async def clear_only(referral_id: UUID, assignment: Assignment) -> Assignment:
    """An Opener for tests whose referrals are clear: there is nothing to unseal."""
    assert not isinstance(assignment.referral, SealedSubmission), "use a real VaultOpener"
    return assignment
