"""The health of a provider's webhook endpoint: a circuit breaker, as a pure state machine.

Rules kept here:
- a webhook attempt tells the breaker one thing: the endpoint answered (any response that is
  not a retryable failure: 2xx, a permanent 4xx, 410) or it failed (a transport failure, a 5xx,
  408, 425 or 429: the outcomes the retry policy calls retryable);
- CLOSED -> OPEN after `threshold` consecutive failures; while OPEN nothing is sent to the
  endpoint but ONE probe at a time, every `probe_interval`: taking the probe makes it
  HALF_OPEN until `probe_timeout` has passed (a probe whose result never came, because its
  gateway died, is then replaced); a failed probe re-opens it for another interval;
- any answer, from the probe or from an attempt still in flight when it opened, closes it;
  the caller then brings the endpoint's waiting deliveries forward at a bounded rate
  (`release_slot`), so they arrive soon after the endpoint answers, without a flood;
- every transition is a row of `TRANSITIONS`; a (state, signal) pair not listed is refused.
No clock of its own: `now` is passed in, so tests need no waiting.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum
from types import MappingProxyType
from typing import Final


class BreakerState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class Signal(StrEnum):
    ANSWERED = "answered"  # the endpoint answered (any attempt, probe or not)
    FAILED = "failed"  # an attempt failed, below the threshold (or not the probe)
    TRIPPED = "tripped"  # an attempt failed and reached the threshold
    PROBE_TAKEN = "probe_taken"  # a worker took the one probe
    PROBE_FAILED = "probe_failed"  # the probe failed


C, OP, H = BreakerState.CLOSED, BreakerState.OPEN, BreakerState.HALF_OPEN

# (state, signal) -> next state. A failure of an attempt sent before the breaker opened changes
# nothing once it is open: only the probe decides, so one outage is one opening.
TRANSITIONS: Final[Mapping[tuple[BreakerState, Signal], BreakerState]] = MappingProxyType(
    {
        (C, Signal.ANSWERED): C,
        (C, Signal.FAILED): C,
        (C, Signal.TRIPPED): OP,
        (OP, Signal.ANSWERED): C,
        (OP, Signal.FAILED): OP,
        (OP, Signal.TRIPPED): OP,
        (OP, Signal.PROBE_TAKEN): H,
        (OP, Signal.PROBE_FAILED): OP,
        (H, Signal.ANSWERED): C,
        (H, Signal.FAILED): H,
        (H, Signal.TRIPPED): H,
        (H, Signal.PROBE_TAKEN): H,  # the last probe timed out unanswered: a new one
        (H, Signal.PROBE_FAILED): OP,
    }
)


class InvalidBreakerTransition(ValueError):
    """A signal the breaker's state does not accept (e.g. taking a probe while closed)."""


@dataclass(frozen=True)
class Breaker:
    """One endpoint's breaker: its state, consecutive failures, and when a probe may go."""

    state: BreakerState = BreakerState.CLOSED
    failures: int = 0
    probe_at: datetime | None = None  # OPEN: next probe; HALF_OPEN: the probe's deadline
    changed_at: datetime | None = None


@dataclass(frozen=True)
class BreakerPolicy:
    """How many failures open it, how often it probes, how fast waiting deliveries return."""

    threshold: int = 3
    probe_interval: timedelta = timedelta(seconds=5)
    probe_timeout: timedelta = timedelta(seconds=15)
    release_per_second: float = 20.0

    def __post_init__(self) -> None:
        if self.threshold < 1:
            raise ValueError("the breaker threshold must be at least 1")
        if self.probe_interval <= timedelta(0) or self.probe_timeout <= timedelta(0):
            raise ValueError("the probe interval and timeout must be positive")
        if self.release_per_second <= 0:
            raise ValueError("the release rate must be positive")

    def release_slot(self, position: int) -> timedelta:
        """How long after closing the `position`-th waiting delivery (0-based) is due again."""
        return timedelta(seconds=position / self.release_per_second)


def _move(
    b: Breaker, signal: Signal, now: datetime, *, failures: int, probe_at: datetime | None
) -> Breaker:
    target = TRANSITIONS.get((b.state, signal))
    if target is None:
        raise InvalidBreakerTransition(f"{signal} is not accepted when {b.state}")
    changed_at = now if target is not b.state else b.changed_at
    return replace(b, state=target, failures=failures, probe_at=probe_at, changed_at=changed_at)


def after_attempt(
    b: Breaker, *, answered: bool, probe: bool, now: datetime, policy: BreakerPolicy
) -> Breaker:
    """The breaker after one webhook attempt's result."""
    if answered:
        return _move(b, Signal.ANSWERED, now, failures=0, probe_at=None)
    failures = b.failures + 1
    next_probe = now + policy.probe_interval
    # A probe that fails after another answer closed the breaker is an ordinary failure.
    if probe and b.state is not BreakerState.CLOSED:
        return _move(b, Signal.PROBE_FAILED, now, failures=failures, probe_at=next_probe)
    if failures >= policy.threshold:
        keep = b.probe_at if b.state is not BreakerState.CLOSED else next_probe
        return _move(b, Signal.TRIPPED, now, failures=failures, probe_at=keep)
    return _move(b, Signal.FAILED, now, failures=failures, probe_at=b.probe_at)


def probe_due(b: Breaker, now: datetime) -> bool:
    """Whether a worker may take a probe now (OPEN and its interval passed, or probe lost)."""
    return b.state is not BreakerState.CLOSED and b.probe_at is not None and b.probe_at <= now


def take_probe(b: Breaker, *, now: datetime, policy: BreakerPolicy) -> Breaker:
    """The breaker once a worker has taken the probe: HALF_OPEN until the probe times out."""
    if not probe_due(b, now):
        raise InvalidBreakerTransition(f"no probe is due when {b.state} until {b.probe_at}")
    return _move(
        b, Signal.PROBE_TAKEN, now, failures=b.failures, probe_at=now + policy.probe_timeout
    )


def opened(before: Breaker, after: Breaker) -> bool:
    return before.state is BreakerState.CLOSED and after.state is BreakerState.OPEN


def closed(before: Breaker, after: Breaker) -> bool:
    return before.state is not BreakerState.CLOSED and after.state is BreakerState.CLOSED
