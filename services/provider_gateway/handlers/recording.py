"""Recording a claimed batch's attempts: ONE transaction for the batch, one attempt alone when
that fails.

Rules kept here:
- every attempt of a batch is recorded in one transaction (its ledger row, its delivery's next
  state, the assignment, the breaker and the events they cause), with one commit and one
  outbox insert instead of one of each per attempt (issue 16: the per-attempt transactions
  were about 13% of the gateway's CPU);
- locks are taken in one order by every worker: the endpoint rows first (the breaker, by
  provider), then each attempt's delivery and assignment rows in (assignment id, channel)
  order, so two workers recording at once wait for each other and never deadlock (the two
  channels of one assignment may be in different workers' batches);
- one failing attempt must not lose the others' records: when the batch's transaction fails
  (it wrote nothing), each attempt is recorded again in its own transaction, so only the one
  that fails again stays leased (tried again when its lease ends) and is reported back;
  re-recording is safe, since an attempt already recorded records nothing twice (the delivery
  update checks the attempt number it claimed);
- each attempt is recorded inside `within(attempt)` (the worker's span of the attempt), so its
  events carry its trace; it is counted in the metrics once its transaction commits.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from typing import Any

import structlog

from services.provider_gateway.domain.health import Breaker, BreakerPolicy
from services.provider_gateway.handlers.delivery import (
    Attempted,
    Recorded,
    counted,
    record,
    record_health,
)
from services.provider_gateway.ports import DeliveryBatches

log = structlog.get_logger(__name__)

Within = Callable[[Attempted], AbstractContextManager[Any]]


def _no_span(_: Attempted) -> AbstractContextManager[Any]:
    return nullcontext()


def _lock_order(done: Attempted) -> tuple[str, str]:
    return done.claimed.assignment_id, done.claimed.channel


async def record_all(
    store: DeliveryBatches,
    attempts: Sequence[Attempted],
    *,
    breaker: BreakerPolicy | None,
    within: Within = _no_span,
) -> list[BaseException | None]:
    """Record `attempts`; for each (in order) None once recorded, or the error that kept it
    from being recorded."""
    if not attempts:
        return []
    try:
        recorded = await _together(store, attempts, breaker, within)
    except Exception as exc:  # noqa: BLE001 - each attempt is then recorded alone (see above)
        log.warning(
            "delivery batch not recorded, recording each attempt alone",
            attempts=len(attempts),
            error=type(exc).__name__,
        )
        return [await _alone(store, done, breaker, within) for done in attempts]
    for done, result in recorded:
        counted(done, result)
    return [None] * len(attempts)


async def _together(
    store: DeliveryBatches,
    attempts: Sequence[Attempted],
    breaker: BreakerPolicy | None,
    within: Within,
) -> list[tuple[Attempted, Recorded | None]]:
    ordered = sorted(attempts, key=_lock_order)
    health: dict[int, tuple[Breaker, Breaker, int] | None] = {}
    recorded: list[tuple[Attempted, Recorded | None]] = []
    async with store.batch() as tx:
        # The endpoint rows first (by provider), then the deliveries: see the docstring.
        for done in sorted(ordered, key=lambda d: d.claimed.provider.value):
            with within(done):
                health[id(done)] = await record_health(tx, done, breaker)
        for done in ordered:
            with within(done):
                recorded.append((done, await record(tx, done, health[id(done)])))
    return recorded


async def _alone(
    store: DeliveryBatches, done: Attempted, breaker: BreakerPolicy | None, within: Within
) -> BaseException | None:
    try:
        with within(done):
            async with store.transaction() as tx:
                recorded = await record(tx, done, await record_health(tx, done, breaker))
    except Exception as exc:  # noqa: BLE001 - reported to the worker, which backs off
        return exc
    counted(done, recorded)
    return None
