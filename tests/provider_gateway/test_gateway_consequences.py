"""What one delivery attempt causes (domain.consequences), as rules: a step and its facts in,
the effects out. No store, no clock: each row is one rule."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from services.provider_gateway.domain import Delivered, GiveUp, Outcome, RetryAt, Step
from services.provider_gateway.domain.consequences import (
    ERASED,
    NOT_SENT,
    Alert,
    AttemptFacts,
    Effects,
    Event,
    consequences,
)
from shared import AlertKind, Priority, ReferralState

LATER = datetime(2026, 1, 1, 12, tzinfo=UTC)
OK = AttemptFacts("webhook", Priority.STANDARD, 3, Outcome.DELIVERED, 204, 12.5)
FAILING = replace(OK, outcome=Outcome.RETRYABLE, status_code=503, error_code="http_503")
GONE = replace(OK, outcome=Outcome.PERMANENT, status_code=410, error_code="http_410")


def attempted(facts: AttemptFacts) -> Event:
    return Event(
        ReferralState.DELIVERY_ATTEMPTED,
        facts.attempt,
        f"{facts.channel}:{facts.error_code or 'ok'}",
        status_code=facts.status_code,
        latency_ms=facts.latency_ms,
    )


RULES: list[tuple[str, AttemptFacts, Step, Effects]] = [
    (
        "a delivered webhook marks the assignment delivered and reports it on first delivery",
        OK,
        Delivered(),
        Effects(
            (attempted(OK),),
            moves_breaker=True,
            answered=True,
            mark_delivered=True,
            if_first_delivery=(
                Event(ReferralState.DELIVERED, 3, "webhook", status_code=204, latency_ms=12.5),
            ),
        ),
    ),
    (
        "a retry is only reported as attempted, and counts against the breaker as unanswered",
        FAILING,
        RetryAt(LATER),
        Effects((attempted(FAILING),), moves_breaker=True, answered=False),
    ),
    (
        "a kafka attempt never moves a webhook breaker",
        replace(OK, channel="kafka", status_code=None),
        Delivered(),
        Effects(
            (attempted(replace(OK, channel="kafka", status_code=None)),),
            answered=True,
            mark_delivered=True,
            if_first_delivery=(Event(ReferralState.DELIVERED, 3, "kafka", latency_ms=12.5),),
        ),
    ),
    (
        "an erased referral ends delivery_failed with no dead letter, alert or breaker move",
        replace(FAILING, outcome=Outcome.PERMANENT, status_code=None, error_code=ERASED),
        GiveUp(ERASED),
        Effects(
            (
                attempted(
                    replace(FAILING, outcome=Outcome.PERMANENT, status_code=None, error_code=ERASED)
                ),
                Event(ReferralState.DELIVERY_FAILED, 3, "webhook:erased"),
            ),
            answered=True,
        ),
    ),
    (
        "retries run out: dead letter, a delivery_exhausted warning, failed unless delivered",
        FAILING,
        GiveUp("exhausted"),
        Effects(
            (attempted(FAILING),),
            moves_breaker=True,
            dead_letter="exhausted",
            alerts=(Alert(AlertKind.DELIVERY_EXHAUSTED, "exhausted", critical=False),),
            unless_delivered=(
                Event(ReferralState.DELIVERY_FAILED, 3, "webhook:exhausted", status_code=503),
            ),
        ),
    ),
    (
        "an urgent referral given up raises a critical alert",
        replace(FAILING, priority=Priority.URGENT),
        GiveUp("exhausted"),
        Effects(
            (attempted(FAILING),),
            moves_breaker=True,
            dead_letter="exhausted",
            alerts=(Alert(AlertKind.DELIVERY_EXHAUSTED, "exhausted", critical=True),),
            unless_delivered=(
                Event(ReferralState.DELIVERY_FAILED, 3, "webhook:exhausted", status_code=503),
            ),
        ),
    ),
    (
        "a gone endpoint is dead-lettered and disabled, with one critical endpoint alert",
        GONE,
        GiveUp("endpoint_gone", disable_endpoint=True),
        Effects(
            (attempted(GONE),),
            moves_breaker=True,
            answered=True,
            dead_letter="endpoint_gone",
            alerts=(Alert(AlertKind.DEAD_LETTERED, "endpoint_gone", critical=False),),
            disable_endpoint=Alert(
                AlertKind.ENDPOINT_DISABLED, "endpoint_gone", critical=True, per_referral=False
            ),
            unless_delivered=(
                Event(ReferralState.DELIVERY_FAILED, 3, "webhook:endpoint_gone", status_code=410),
            ),
        ),
    ),
]


@pytest.mark.parametrize(
    ("facts", "step", "effects"), [r[1:] for r in RULES], ids=[r[0] for r in RULES]
)
def test_an_attempt_causes_exactly_its_effects(
    facts: AttemptFacts, step: Step, effects: Effects
) -> None:
    assert consequences(facts, step) == effects


@pytest.mark.parametrize("code", sorted(NOT_SENT))
def test_an_attempt_that_sent_nothing_never_moves_the_breaker(code: str) -> None:
    facts = replace(FAILING, status_code=None, error_code=code)
    assert not consequences(facts, RetryAt(LATER)).moves_breaker
    assert not consequences(facts, GiveUp(code)).moves_breaker


@pytest.mark.parametrize("step", [Delivered(), RetryAt(LATER), GiveUp("exhausted")])
def test_every_recorded_attempt_reports_delivery_attempted_first(step: Step) -> None:
    assert consequences(FAILING, step).events[0] == attempted(FAILING)


def test_only_a_given_up_delivery_is_dead_lettered() -> None:
    assert consequences(OK, Delivered()).dead_letter is None
    assert consequences(FAILING, RetryAt(LATER)).dead_letter is None
    assert consequences(FAILING, GiveUp("http_400")).dead_letter == "http_400"
