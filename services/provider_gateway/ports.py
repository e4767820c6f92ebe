"""The seams between the gateway's use cases and its adapters: rows, results and protocols.

Use cases (`handlers/`) depend on these protocols only; the asyncpg stores, the channels and
the tests' in-memory fakes implement them (the fakes are held to the stores by the contract
suites in tests/provider_gateway/test_*_contract.py). Values crossing a seam are frozen.
`ERASED` and `NOT_SENT` (the codes of attempts that sent nothing) are `domain.consequences`'.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol
from uuid import UUID

from services.common.outbox_tx import Emitter
from services.provider_gateway.domain import Outcome, State, Step
from services.provider_gateway.domain.consequences import ERASED, NOT_SENT
from services.provider_gateway.domain.health import Breaker, BreakerPolicy
from shared import (
    Assignment,
    Decision,
    Pathway,
    Priority,
    Provider,
    ProviderResponse,
    ReferralReceived,
)

__all__ = [
    "ERASED",
    "NOT_SENT",
    "AssignmentRow",
    "AttemptResult",
    "Claimed",
    "DeliveryBatches",
    "DeliveryQueue",
    "DeliveryUnit",
    "DeliveryUnits",
    "Emitter",
    "ErasureUnit",
    "ErasureUnits",
    "Opener",
    "ReferralBatchUnits",
    "ReferralUnit",
    "ReferralUnits",
    "Sender",
]


@dataclass(frozen=True)
class AssignmentRow:
    """One round of a referral, without its body."""

    assignment_id: str
    referral_id: UUID
    round: int
    provider: Provider
    reason: str
    priority: Priority
    pathway: Pathway
    state: State
    created_at: datetime
    sla_due_at: datetime
    delivered_at: datetime | None
    overdue_at: datetime | None
    superseded_at: datetime | None


@dataclass(frozen=True)
class Claimed:
    """A delivery leased to one worker for one attempt."""

    assignment_id: str
    channel: str
    referral_id: UUID
    provider: Provider
    priority: Priority
    pathway: Pathway
    attempt: int  # this attempt's number in the ledger
    cycle_attempt: int  # its number since the last replay, which the retry policy counts
    first_attempt_at: datetime | None
    body: bytes
    received_at: datetime | None = None  # when intake received the referral, for latency
    traceparent: str | None = None  # the trace the assignment was made in (W3C traceparent)
    probe: bool = False  # the one attempt that tests an open endpoint (see domain.health)


@dataclass(frozen=True)
class AttemptResult:
    """How one attempt went: its outcome, the HTTP status (None: no response), timing, and why."""

    outcome: Outcome
    status_code: int | None
    latency_ms: float
    error_code: str | None = None
    retry_after: timedelta | None = None


class Opener(Protocol):
    """Unseals an assignment's referral for its provider (adapters.unsealing.VaultOpener)."""

    async def __call__(self, referral_id: UUID, assignment: Assignment) -> Assignment: ...


class Sender(Protocol):
    """One channel to providers (a webhook, a Kafka topic); never raises for a failed send."""

    async def send(self, delivery: Claimed) -> AttemptResult: ...


class ReferralUnit(Emitter, Protocol):
    """One referral's locked transaction (see adapters.referral_store.ReferralTx)."""

    async def save_received(self, event: ReferralReceived) -> bool: ...
    async def save_decision(self, decision: Decision) -> bool: ...
    async def received(self) -> ReferralReceived | None: ...
    async def decision(self) -> Decision | None: ...
    async def assignments(self) -> list[AssignmentRow]: ...
    async def body(self, assignment_id: str) -> Assignment: ...
    async def add_assignment(
        self,
        assignment: Assignment,
        *,
        round_no: int,
        sla_due_at: datetime,
        channels: tuple[str, ...],
    ) -> None: ...
    async def supersede(self, assignment_id: str, at: datetime) -> None: ...
    async def has_response(self, assignment_id: str, response: ProviderResponse) -> bool: ...
    async def save_response(
        self, assignment_id: str, response: ProviderResponse, *, channel: str, state: State
    ) -> None: ...
    async def mark_overdue(self, assignment_id: str, at: datetime) -> None: ...
    async def mark_half_alerted(self, at: datetime) -> bool: ...


class ReferralUnits(Protocol):
    """Opens one referral's locked transaction (see adapters.referral_store.ReferralStore)."""

    def referral(self, referral_id: UUID) -> AbstractAsyncContextManager[ReferralUnit]: ...


class ReferralBatchUnits(Protocol):
    """Opens one transaction for a batch of referrals, each locked (adapters.referral_batch)."""

    def referrals(
        self, referral_ids: Iterable[UUID]
    ) -> AbstractAsyncContextManager[Callable[[UUID], ReferralUnit]]: ...


class DeliveryUnit(Emitter, Protocol):
    """One attempt's transaction (see adapters.delivery_store.DeliveryTx)."""

    async def finish(
        self,
        claimed: Claimed,
        result: AttemptResult,
        step: Step,
        *,
        at: datetime,
        first_attempt_at: datetime,
    ) -> bool: ...
    async def record_health(
        self, claimed: Claimed, *, answered: bool, at: datetime, policy: BreakerPolicy
    ) -> tuple[Breaker, Breaker, int]: ...
    async def mark_delivered(self, assignment_id: str, at: datetime) -> bool: ...
    async def is_delivered(self, assignment_id: str) -> bool: ...
    async def disable_endpoint(
        self, provider: Provider, at: datetime, reason_code: str
    ) -> bool: ...


class DeliveryUnits(Protocol):
    """Opens the transaction that records one attempt (see adapters.delivery_store)."""

    def transaction(self) -> AbstractAsyncContextManager[DeliveryUnit]: ...


class DeliveryBatches(DeliveryUnits, Protocol):
    """Also opens ONE transaction for a claimed batch's attempts (adapters.delivery_store)."""

    def batch(self) -> AbstractAsyncContextManager[DeliveryUnit]: ...


class DeliveryQueue(DeliveryBatches, Protocol):
    """The due deliveries, leased to a worker (see adapters.delivery_store.DeliveryStore)."""

    async def claim(
        self,
        *,
        now: datetime,
        limit: int,
        lease: timedelta,
        kafka: bool,
        webhook_providers: Sequence[str],
        give_up_after: timedelta = ...,
    ) -> list[Claimed]: ...
    async def claim_probes(
        self,
        *,
        now: datetime,
        lease: timedelta,
        webhook_providers: Sequence[str],
        policy: BreakerPolicy,
    ) -> list[Claimed]: ...


class ErasureUnit(Emitter, Protocol):
    """One referral's locked erasure transaction (see adapters.erasure_store.ErasureTx)."""

    referral_id: UUID

    async def record(self, erased_at: datetime, event_id: UUID) -> bool: ...
    async def erase_copies(self) -> int: ...


class ErasureUnits(Protocol):
    """Opens one referral's erasure transaction (see adapters.erasure_store.ErasureStore)."""

    def referral(self, referral_id: UUID) -> AbstractAsyncContextManager[ErasureUnit]: ...
