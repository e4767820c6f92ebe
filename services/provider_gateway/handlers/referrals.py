"""The gateway's use cases on one referral: assign, take answers, re-route, escalate.

Each handler runs inside the caller's locked transaction on one referral (`ReferralUnit`),
takes its clock and policies from `Context`, and writes state, events and alerts through that
transaction, so each upstream event takes effect once. The rules are in `domain/`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from services.provider_gateway.domain import (
    NotCurrentAssignment,
    Reason,
    SlaPolicy,
    State,
    after_response,
    first_assignment,
    next_round,
    reroute_target,
)
from services.provider_gateway.handlers import ops
from services.provider_gateway.ports import AssignmentRow, ReferralUnit
from shared import (
    AlertKind,
    Assignment,
    Decision,
    Priority,
    Provider,
    ProviderResponse,
    ReferralReceived,
    ReferralState,
)
from shared.cloudevents import TYPE_RESPONSE
from shared.topics import ASSIGNMENTS_RESPONSES


@dataclass(frozen=True)
class Context:
    """What the handlers need besides the transaction: the SLA, each provider's channels, a clock."""

    sla: SlaPolicy
    channels: Mapping[Provider, tuple[str, ...]]
    now: Callable[[], datetime]


@dataclass(frozen=True)
class Answered:
    """What became of a provider's answer."""

    assignment_id: str
    state: State
    duplicate: bool = False
    next_assignment_id: str | None = None


async def record_received(
    tx: ReferralUnit, event: ReferralReceived, ctx: Context
) -> Assignment | None:
    """Keep the referral's details; assign if its decision is already here."""
    if not await tx.save_received(event):
        return None
    return await _assign_when_complete(tx, ctx)


async def record_decision(tx: ReferralUnit, decision: Decision, ctx: Context) -> Assignment | None:
    """Keep the decision (once per referral); assign if the referral's details are here."""
    if not await tx.save_decision(decision):
        return None
    return await _assign_when_complete(tx, ctx)


async def _assign_when_complete(tx: ReferralUnit, ctx: Context) -> Assignment | None:
    received, decision = await tx.received(), await tx.decision()
    if received is None or decision is None or await tx.assignments():
        return None
    assignment = first_assignment(received, decision, ctx.now())
    if assignment is not None:
        await _open(tx, assignment, 1, ctx)
    return assignment


async def _open(tx: ReferralUnit, assignment: Assignment, round_no: int, ctx: Context) -> None:
    due = ctx.sla.due(assignment.decision.priority, assignment.assigned_at)
    await tx.add_assignment(
        assignment, round_no=round_no, sla_due_at=due, channels=ctx.channels[assignment.provider]
    )


async def record_response(
    tx: ReferralUnit, response: ProviderResponse, *, channel: str, ctx: Context
) -> Answered:
    """Apply a provider's answer to its current assignment; a decline re-routes.

    Raises NotCurrentAssignment or InvalidTransition; the same answer twice is a duplicate.
    """
    rows = await tx.assignments()
    mine = [
        r
        for r in rows
        if r.provider is response.provider and response.assignment_id in (None, r.assignment_id)
    ]
    if not mine:
        raise NotCurrentAssignment("no assignment of this provider for this referral")
    target = mine[-1]
    if await tx.has_response(target.assignment_id, response):
        return Answered(target.assignment_id, target.state, duplicate=True)
    if target.superseded_at is not None:
        raise NotCurrentAssignment("the assignment has passed to another provider")
    state = after_response(target.state, response.status)
    at = ctx.now()
    await tx.save_response(target.assignment_id, response, channel=channel, state=state)
    await ops.event(tx, ReferralState(state.value), target, at)
    if channel == "http":
        # Answers given over HTTP go on the responses topic too, so that topic is the record.
        echo = response.model_copy(update={"assignment_id": target.assignment_id})
        await tx.emit(
            echo,
            topic=ASSIGNMENTS_RESPONSES,
            key=str(target.referral_id),
            ce_type=TYPE_RESPONSE,
            event_id=f"{target.assignment_id}:{state}",
            at=at,
        )
    rerouted = None
    if state is State.DECLINED:
        rerouted = await _hand_on(tx, target, rows=rows, reason=Reason.DECLINED, at=at, ctx=ctx)
        if rerouted is None:
            await ops.alert(
                tx,
                AlertKind.DECLINED_BY_LEAD,
                at,
                referral_id=target.referral_id,
                provider=target.provider,
                reason_code="declined",
                critical=True,
            )
    return Answered(target.assignment_id, state, next_assignment_id=rerouted)


async def check_overdue(tx: ReferralUnit, ctx: Context) -> int:
    """Flag the current assignment if its acceptance deadline passed; escalate to the lead."""
    at = ctx.now()
    rows = await tx.assignments()
    late = [
        r
        for r in rows
        if r.superseded_at is None
        and r.state is State.ASSIGNED
        and r.overdue_at is None
        and r.sla_due_at <= at
    ]
    for row in late:
        await tx.mark_overdue(row.assignment_id, at)
        await ops.event(tx, ReferralState.OVERDUE, row, at)
        rerouted = await _hand_on(tx, row, rows=rows, reason=Reason.OVERDUE, at=at, ctx=ctx)
        await ops.alert(
            tx,
            AlertKind.SLA_BREACHED,
            at,
            referral_id=row.referral_id,
            provider=row.provider,
            reason_code=f"{row.priority}_not_accepted",
            critical=rerouted is None,
        )
    return len(late)


async def check_half_missing(tx: ReferralUnit, referral_id: UUID, ctx: Context) -> int:
    """Alert ops, once, when only one half of the referral is here (the caller found it late).

    A decision without its details cannot be delivered; details without a decision are a
    referral nobody has routed. Either way a person must look: critical when the decision
    says urgent. The alert names the referral and which half is missing, nothing more.
    """
    received, decision = await tx.received(), await tx.decision()
    if (received is None) == (decision is None):
        return 0  # both halves (the other arrived meanwhile), or neither: nothing waits
    at = ctx.now()
    if not await tx.mark_half_alerted(at):
        return 0
    await ops.alert(
        tx,
        AlertKind.REFERRAL_HALF_MISSING,
        at,
        referral_id=referral_id,
        provider=decision.provider if decision else None,
        reason_code="decision_missing" if decision is None else "referral_missing",
        critical=decision is not None and decision.priority is Priority.URGENT,
    )
    return 1


async def _hand_on(
    tx: ReferralUnit,
    row: AssignmentRow,
    *,
    rows: list[AssignmentRow],
    reason: Reason,
    at: datetime,
    ctx: Context,
) -> str | None:
    """Open the lead provider's round after `row`; None when `row` is the lead's own."""
    target = reroute_target(row.provider)
    if target is None:
        return None
    previous = await tx.body(row.assignment_id)
    round_no = max(r.round for r in rows) + 1
    await tx.supersede(row.assignment_id, at)
    new = next_round(previous, round_no, reason, at)
    await _open(tx, new, round_no, ctx)
    await ops.event(
        tx,
        ReferralState.REROUTED,
        ops.AssignmentFacts.of(new),
        at,
        reason_code=f"{reason.value}_from_{row.provider}",
    )
    return new.assignment_id
