"""When a failed delivery is tried again, and when it is given up.

Rules kept here:
- an attempt's outcome follows from the response alone (`classify`): 2xx delivered; 408, 425,
  429, any 5xx and every transport failure (timeout, refused connection, Kafka error)
  retryable; 410 gone (the provider retired the endpoint, which is then disabled); any other
  status permanent (the request itself is wrong and sending it again will not help);
- after failed attempt k of a cycle (1-based), while k <= N = len(schedule), the next attempt
  waits a delay drawn uniformly from [0, schedule[k-1]] ("full jitter": deliveries that failed
  together in an outage do not all come back together), and never less than the receiver's
  Retry-After, which is honoured up to `max_retry_after`;
- once the schedule is used up, a delivery gets one last attempt at first attempt +
  `give_up_after` if that moment is still ahead, so that whatever the jitter draws a delivery
  is given up only after failing for at least `give_up_after` (one day by default);
- a permanent failure, a gone endpoint or a used-up schedule is final: the caller dead-letters.
No clock and no randomness of its own: `now` and `rng` are passed in, so tests need no waiting.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime
from enum import StrEnum
from typing import Final


class Outcome(StrEnum):
    DELIVERED = "delivered"
    RETRYABLE = "retryable"
    PERMANENT = "permanent"
    GONE = "gone"


RETRYABLE_STATUSES: Final = frozenset({408, 425, 429})

DEFAULT_SCHEDULE: Final = tuple(
    timedelta(seconds=s) for s in (10, 30, 120, 600, 1800, 3600, 7200, 14400, 28800, 28800, 28800)
)


def classify(status_code: int | None) -> Outcome:
    """The outcome of one attempt; `None` means no HTTP status (a transport failure)."""
    if status_code is None:
        return Outcome.RETRYABLE
    if 200 <= status_code < 300:
        return Outcome.DELIVERED
    if status_code == 410:
        return Outcome.GONE
    if status_code in RETRYABLE_STATUSES or status_code >= 500:
        return Outcome.RETRYABLE
    return Outcome.PERMANENT


def parse_retry_after(value: str | None, now: datetime) -> timedelta | None:
    """A Retry-After header (delay seconds or an HTTP date) as a delay; None if absent or bad."""
    if not value:
        return None
    text = value.strip()
    if text.isdigit():
        return timedelta(seconds=int(text))
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:  # an HTTP date is GMT by definition
        return None
    return max(when - now, timedelta(0))


@dataclass(frozen=True)
class Delivered:
    """The attempt succeeded."""


@dataclass(frozen=True)
class RetryAt:
    """Try again at `at`."""

    at: datetime


@dataclass(frozen=True)
class GiveUp:
    """Stop trying: `reason_code` says why; `disable_endpoint` for a gone endpoint."""

    reason_code: str
    disable_endpoint: bool = False


Step = Delivered | RetryAt | GiveUp


@dataclass(frozen=True)
class RetryPolicy:
    """The retry schedule (upper bounds of the jittered delays) and the give-up rule."""

    schedule: tuple[timedelta, ...] = DEFAULT_SCHEDULE
    give_up_after: timedelta = timedelta(days=1)
    max_retry_after: timedelta = timedelta(hours=8)

    def __post_init__(self) -> None:
        if not self.schedule or any(d <= timedelta(0) for d in self.schedule):
            raise ValueError("the retry schedule needs at least one positive delay")

    def after_failure(
        self,
        *,
        attempt: int,
        first_attempt_at: datetime,
        now: datetime,
        retry_after: timedelta | None,
        rng: Callable[[], float],
    ) -> RetryAt | GiveUp:
        """The next step after retryable failed attempt `attempt` (1-based within the cycle)."""
        floor = now + min(retry_after, self.max_retry_after) if retry_after else now
        if attempt <= len(self.schedule):
            jittered = now + self.schedule[attempt - 1] * rng()
            return RetryAt(max(jittered, floor))
        deadline = first_attempt_at + self.give_up_after
        if now < deadline:
            return RetryAt(max(deadline, floor))
        return GiveUp("exhausted")

    def next_step(
        self,
        outcome: Outcome,
        *,
        error_code: str | None,
        attempt: int,
        first_attempt_at: datetime,
        now: datetime,
        retry_after: timedelta | None,
        rng: Callable[[], float],
    ) -> Step:
        """What follows an attempt with `outcome`; `error_code` names a permanent failure."""
        if outcome is Outcome.DELIVERED:
            return Delivered()
        if outcome is Outcome.GONE:
            return GiveUp("endpoint_gone", disable_endpoint=True)
        if outcome is Outcome.PERMANENT:
            return GiveUp(error_code or "permanent")
        return self.after_failure(
            attempt=attempt,
            first_attempt_at=first_attempt_at,
            now=now,
            retry_after=retry_after,
            rng=rng,
        )
