"""The retry policy: full jitter, Retry-After honoured, a day at least, then dead-lettered."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest

from services.provider_gateway.domain import (
    DEFAULT_SCHEDULE,
    Delivered,
    GiveUp,
    Outcome,
    RetryAt,
    RetryPolicy,
    classify,
    parse_retry_after,
)
from tests.provider_gateway.gateway_samples import T0

POLICY = RetryPolicy()


def run_until_given_up(
    policy: RetryPolicy, rng_value: float, retry_after: timedelta | None = None
) -> tuple[int, datetime]:
    """Fail every attempt at the moment it is due; returns (attempts made, time given up)."""
    now, attempt = T0, 1
    while True:
        step = policy.after_failure(
            attempt=attempt,
            first_attempt_at=T0,
            now=now,
            retry_after=retry_after,
            rng=lambda: rng_value,
        )
        if isinstance(step, GiveUp):
            return attempt, now
        assert step.at >= now
        now, attempt = step.at, attempt + 1


@pytest.mark.parametrize(
    ("status", "outcome"),
    [
        (200, Outcome.DELIVERED),
        (202, Outcome.DELIVERED),
        (204, Outcome.DELIVERED),
        (408, Outcome.RETRYABLE),
        (425, Outcome.RETRYABLE),
        (429, Outcome.RETRYABLE),
        (500, Outcome.RETRYABLE),
        (502, Outcome.RETRYABLE),
        (503, Outcome.RETRYABLE),
        (410, Outcome.GONE),
        (301, Outcome.PERMANENT),
        (400, Outcome.PERMANENT),
        (401, Outcome.PERMANENT),
        (403, Outcome.PERMANENT),
        (404, Outcome.PERMANENT),
        (422, Outcome.PERMANENT),
        (None, Outcome.RETRYABLE),
    ],
)
def test_outcome_follows_from_the_status_alone(status: int | None, outcome: Outcome) -> None:
    assert classify(status) is outcome


def test_delay_is_drawn_between_zero_and_the_step_of_the_schedule() -> None:
    for attempt, cap in enumerate(DEFAULT_SCHEDULE, start=1):
        low = POLICY.after_failure(
            attempt=attempt, first_attempt_at=T0, now=T0, retry_after=None, rng=lambda: 0.0
        )
        high = POLICY.after_failure(
            attempt=attempt, first_attempt_at=T0, now=T0, retry_after=None, rng=lambda: 0.999999
        )
        assert isinstance(low, RetryAt)
        assert isinstance(high, RetryAt)
        assert low.at == T0
        assert cap * 0.99 < high.at - T0 <= cap


def test_schedule_grows_from_seconds_to_hours() -> None:
    assert DEFAULT_SCHEDULE[0] == timedelta(seconds=10)
    assert list(DEFAULT_SCHEDULE) == sorted(DEFAULT_SCHEDULE)
    assert DEFAULT_SCHEDULE[-1] == timedelta(hours=8)


def test_retry_after_is_honoured_when_longer_than_the_jittered_delay() -> None:
    step = POLICY.after_failure(
        attempt=1, first_attempt_at=T0, now=T0, retry_after=timedelta(minutes=5), rng=lambda: 0.5
    )
    assert step == RetryAt(T0 + timedelta(minutes=5))


def test_retry_after_shorter_than_the_jittered_delay_changes_nothing() -> None:
    step = POLICY.after_failure(
        attempt=4, first_attempt_at=T0, now=T0, retry_after=timedelta(seconds=1), rng=lambda: 0.5
    )
    assert step == RetryAt(T0 + timedelta(minutes=5))


def test_retry_after_is_capped() -> None:
    step = POLICY.after_failure(
        attempt=1, first_attempt_at=T0, now=T0, retry_after=timedelta(days=30), rng=lambda: 0.0
    )
    assert step == RetryAt(T0 + POLICY.max_retry_after)


@pytest.mark.parametrize("rng_value", [0.0, 0.5, 0.999999])
def test_a_failing_delivery_is_given_up_only_after_a_day_whatever_the_jitter(
    rng_value: float,
) -> None:
    attempts, given_up_at = run_until_given_up(POLICY, rng_value)
    assert given_up_at - T0 >= timedelta(days=1)
    assert attempts in (len(DEFAULT_SCHEDULE) + 1, len(DEFAULT_SCHEDULE) + 2)


def test_after_the_schedule_one_last_attempt_waits_for_the_day_to_pass() -> None:
    last = len(DEFAULT_SCHEDULE) + 1
    now = T0 + timedelta(hours=3)
    step = POLICY.after_failure(
        attempt=last, first_attempt_at=T0, now=now, retry_after=None, rng=lambda: 0.0
    )
    assert step == RetryAt(T0 + timedelta(days=1))


def test_exhausted_once_the_schedule_is_used_and_a_day_has_passed() -> None:
    step = POLICY.after_failure(
        attempt=len(DEFAULT_SCHEDULE) + 1,
        first_attempt_at=T0,
        now=T0 + timedelta(days=1, seconds=1),
        retry_after=None,
        rng=lambda: 0.5,
    )
    assert step == GiveUp("exhausted")


def test_a_success_is_delivered_and_a_retryable_failure_is_retried() -> None:
    kwargs: dict[str, Any] = {
        "error_code": None,
        "attempt": 1,
        "first_attempt_at": T0,
        "now": T0,
        "retry_after": None,
        "rng": lambda: 0.5,
    }
    assert POLICY.next_step(Outcome.DELIVERED, **kwargs) == Delivered()
    assert POLICY.next_step(Outcome.RETRYABLE, **kwargs) == RetryAt(T0 + timedelta(seconds=5))


def test_a_permanent_failure_is_dead_lettered_at_once() -> None:
    step = POLICY.next_step(
        Outcome.PERMANENT,
        error_code="http_404",
        attempt=1,
        first_attempt_at=T0,
        now=T0,
        retry_after=None,
        rng=lambda: 0.5,
    )
    assert step == GiveUp("http_404")


def test_a_gone_endpoint_is_given_up_and_disabled() -> None:
    step = POLICY.next_step(
        Outcome.GONE,
        error_code="http_410",
        attempt=3,
        first_attempt_at=T0,
        now=T0,
        retry_after=None,
        rng=lambda: 0.5,
    )
    assert step == GiveUp("endpoint_gone", disable_endpoint=True)


def test_an_empty_schedule_is_refused() -> None:
    with pytest.raises(ValueError, match="schedule"):
        RetryPolicy(schedule=())


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("120", timedelta(seconds=120)),
        ("0", timedelta(0)),
        ("Wed, 25 Nov 2026 10:01:00 GMT", timedelta(minutes=1)),
        ("Wed, 25 Nov 2026 09:00:00 GMT", timedelta(0)),
        ("soon", None),
        ("-5", None),
        ("", None),
        (None, None),
    ],
)
def test_retry_after_is_read_as_seconds_or_an_http_date(
    header: str | None, expected: timedelta | None
) -> None:
    assert parse_retry_after(header, T0) == expected
