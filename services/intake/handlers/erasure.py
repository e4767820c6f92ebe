"""Intake's erasure use cases: erase one referral, and the retention job.

Both erase the same way (`ErasureStore.erase`, one transaction: data key destroyed, personal
copies removed, audit appended, `erased` announced on `ops.events.v1` through the outbox).
The rules (who may ask, what is due) are in `domain.erasure`; the command line and the
operator's HTTP endpoint only call these.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import datetime
from uuid import UUID

import structlog

from services.common.loops import run_loop
from services.common.outbox import OutboxMessage
from services.common.outbox_events import cloudevent_message
from services.intake.domain import SubmissionRefused
from services.intake.domain.erasure import (
    CLOSING_STATES,
    RETENTION_OPERATOR,
    Erasure,
    ErasureChannel,
    ErasureOutcome,
    ErasureRequest,
    erased_ops_event,
    request_problems,
    retention_cutoff,
)
from services.intake.ports import ErasurePort
from shared import Service
from shared.cloudevents import TYPE_OPS_EVENT
from shared.topics import OPS_EVENTS

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class RetentionRun:
    """What one retention run found and did (ids only)."""

    cutoff: datetime
    due: list[UUID]
    erased: list[UUID]
    dry_run: bool


async def erase_referral(
    store: ErasurePort, request: ErasureRequest, *, now: Callable[[], datetime]
) -> Erasure:
    """Erase one referral's personal data; refused (naming the field) if the request is bad."""
    problems = request_problems(request.operator, request.reason)
    if problems:
        raise SubmissionRefused(problems)
    at = now()

    def announce(referral_id: UUID) -> list[OutboxMessage]:
        event = erased_ops_event(replace(request, referral_id=referral_id), at)
        key = str(referral_id)
        return [
            cloudevent_message(
                Service.INTAKE,
                event,
                topic=OPS_EVENTS,
                key=key,
                ce_type=TYPE_OPS_EVENT,
                event_id=f"ops:erased:{key}",
                at=at,
            )
        ]

    return await store.erase(request, at, announce)


def retention_step(
    store: ErasurePort, *, days: int, now: Callable[[], datetime], batch: int = 200
) -> Callable[[], Awaitable[int]]:
    """One scheduled retention run (for `services.common.loops.run_loop`): erases up to `batch`
    due referrals and returns how many, so the loop goes on at once while some are left and
    otherwise waits its interval. Safe on several intake instances at once: each erasure locks
    its referral's row and a second erasure of it is "already erased", changing nothing."""

    async def step() -> int:
        run = await run_retention(store, days=days, now=now, dry_run=False, limit=batch)
        if run.erased:
            log.info("retention erased referrals", count=len(run.erased), days=days)
        return len(run.erased)

    return step


async def retention_schedule(
    store: ErasurePort, *, days: int, every_seconds: float, now: Callable[[], datetime]
) -> None:
    """Intake's own retention job: a run every `every_seconds`, the first one interval after
    start-up (so a service restarting in a loop never erases in bursts), until cancelled."""
    await asyncio.sleep(every_seconds)
    step = retention_step(store, days=days, now=now)
    await run_loop("retention", step, idle_seconds=every_seconds)


async def run_retention(
    store: ErasurePort,
    *,
    days: int,
    now: Callable[[], datetime],
    dry_run: bool,
    limit: int = 10_000,
) -> RetentionRun:
    """Erase (or, dry, only list) closed referrals older than the retention period."""
    cutoff = retention_cutoff(now(), days)
    due = await store.retention_candidates(cutoff, CLOSING_STATES, limit)
    erased: list[UUID] = []
    if not dry_run:
        for referral_id in due:
            request = ErasureRequest(
                referral_id=referral_id,
                operator=RETENTION_OPERATOR,
                reason=f"retention: closed for more than {days} days",
                channel=ErasureChannel.RETENTION,
            )
            done = await erase_referral(store, request, now=now)
            if done.outcome is ErasureOutcome.ERASED:
                erased.append(referral_id)
    return RetentionRun(cutoff=cutoff, due=due, erased=erased, dry_run=dry_run)
