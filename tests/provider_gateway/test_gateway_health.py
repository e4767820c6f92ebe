"""The endpoint circuit breaker as rules: transitions as data, an injected clock, no waiting."""

from __future__ import annotations

from datetime import timedelta

import pytest

from services.provider_gateway.domain.health import (
    TRANSITIONS,
    Breaker,
    BreakerPolicy,
    BreakerState,
    InvalidBreakerTransition,
    Signal,
    after_attempt,
    closed,
    opened,
    probe_due,
    take_probe,
)
from tests.provider_gateway.gateway_samples import T0

POLICY = BreakerPolicy(
    threshold=3,
    probe_interval=timedelta(seconds=5),
    probe_timeout=timedelta(seconds=14),
    release_per_second=10,
)
C, OP, H = BreakerState.CLOSED, BreakerState.OPEN, BreakerState.HALF_OPEN


def fail(b: Breaker, seconds: float = 0, *, probe: bool = False) -> Breaker:
    return after_attempt(
        b, answered=False, probe=probe, now=T0 + timedelta(seconds=seconds), policy=POLICY
    )


def answer(b: Breaker, seconds: float = 0, *, probe: bool = False) -> Breaker:
    return after_attempt(
        b, answered=True, probe=probe, now=T0 + timedelta(seconds=seconds), policy=POLICY
    )


def open_breaker() -> Breaker:
    b = Breaker()
    for _ in range(POLICY.threshold):
        b = fail(b)
    return b


def test_it_opens_after_threshold_consecutive_failures_and_schedules_a_probe() -> None:
    b = fail(fail(Breaker()))
    assert (b.state, b.failures) == (C, 2)
    tripped = fail(b, 1)
    assert opened(b, tripped)
    assert (tripped.state, tripped.probe_at, tripped.changed_at) == (
        OP,
        T0 + timedelta(seconds=6),
        T0 + timedelta(seconds=1),
    )


def test_an_answer_resets_the_count_so_failures_must_be_consecutive() -> None:
    b = answer(fail(fail(Breaker())))
    assert (b.state, b.failures) == (C, 0)
    assert fail(fail(b)).state is C


def test_one_probe_at_a_time_every_interval() -> None:
    b = open_breaker()
    assert not probe_due(b, T0 + timedelta(seconds=4.9))
    with pytest.raises(InvalidBreakerTransition):
        take_probe(b, now=T0 + timedelta(seconds=4.9), policy=POLICY)
    probing = take_probe(b, now=T0 + timedelta(seconds=5), policy=POLICY)
    assert (probing.state, probing.probe_at) == (H, T0 + timedelta(seconds=19))
    # The probe is out: no second one until it has timed out unanswered.
    assert not probe_due(probing, T0 + timedelta(seconds=18))
    assert probe_due(probing, T0 + timedelta(seconds=19))
    assert take_probe(probing, now=T0 + timedelta(seconds=19), policy=POLICY).state is H


def test_a_failed_probe_reopens_it_for_another_interval() -> None:
    probing = take_probe(open_breaker(), now=T0 + timedelta(seconds=5), policy=POLICY)
    reopened = fail(probing, 7, probe=True)
    assert (reopened.state, reopened.probe_at) == (OP, T0 + timedelta(seconds=12))


def test_failures_of_attempts_sent_before_it_opened_do_not_move_it() -> None:
    b = open_breaker()
    assert fail(b, 2) == Breaker(OP, 4, b.probe_at, b.changed_at)
    probing = take_probe(b, now=T0 + timedelta(seconds=5), policy=POLICY)
    assert fail(probing, 6).state is H  # not the probe: still waiting for the probe


@pytest.mark.parametrize("probe", [True, False])
def test_any_answer_closes_it_from_open_or_half_open(probe: bool) -> None:
    b = open_breaker()
    probing = take_probe(b, now=T0 + timedelta(seconds=5), policy=POLICY)
    for before in (b, probing):
        after = answer(before, 8, probe=probe)
        assert closed(before, after)
        assert after == Breaker(C, 0, None, T0 + timedelta(seconds=8))


def test_a_probe_failing_after_another_answer_closed_it_counts_as_a_failure() -> None:
    b = fail(Breaker(), probe=True)
    assert (b.state, b.failures, b.probe_at) == (C, 1, None)


def test_no_probe_is_taken_while_closed() -> None:
    assert not probe_due(Breaker(), T0)
    with pytest.raises(InvalidBreakerTransition):
        take_probe(Breaker(), now=T0, policy=POLICY)


def test_the_transition_table_is_complete_but_for_refused_pairs() -> None:
    # Every (state, signal) pair is decided by the table; only taking a probe while closed and
    # a probe failure while closed (handled as a plain failure) are not transitions.
    missing = {(s, sig) for s in BreakerState for sig in Signal} - set(TRANSITIONS)
    assert missing == {(C, Signal.PROBE_TAKEN), (C, Signal.PROBE_FAILED)}
    assert {TRANSITIONS[(s, Signal.ANSWERED)] for s in BreakerState} == {C}


def test_waiting_deliveries_are_released_at_the_configured_rate() -> None:
    assert [POLICY.release_slot(k) for k in (0, 1, 25)] == [
        timedelta(0),
        timedelta(seconds=0.1),
        timedelta(seconds=2.5),
    ]


@pytest.mark.parametrize(
    "bad",
    [
        {"threshold": 0},
        {"probe_interval": timedelta(0)},
        {"release_per_second": 0},
    ],
)
def test_a_policy_that_cannot_work_is_refused(bad: dict[str, object]) -> None:
    with pytest.raises(ValueError, match="must"):
        BreakerPolicy(**bad)  # type: ignore[arg-type]
