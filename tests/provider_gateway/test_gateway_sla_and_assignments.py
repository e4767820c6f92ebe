"""Acceptance deadlines and the rules of assignments, rounds and answers (pure)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from uuid import uuid4

import pytest

from services.provider_gateway.domain import (
    TRANSITIONS,
    InvalidTransition,
    Reason,
    SlaPolicy,
    State,
    after_response,
    assignment_id,
    first_assignment,
    next_round,
    reroute_target,
)
from shared import Priority, Provider, ResponseStatus
from tests.provider_gateway.gateway_samples import T0, decision_for, received_event

SLA = SlaPolicy()


def london(y: int, mo: int, d: int, h: int, mi: int = 0) -> datetime:
    return datetime(y, mo, d, h, mi, tzinfo=SLA.zone)


def test_urgent_is_due_four_clock_hours_later_even_at_the_weekend() -> None:
    saturday_night = datetime(2026, 11, 28, 22, 0, tzinfo=UTC)
    assert SLA.due(Priority.URGENT, saturday_night) == saturday_night + timedelta(hours=4)


def test_standard_is_due_two_working_days_later_at_the_same_time() -> None:
    wednesday = london(2026, 11, 25, 10)
    assert SLA.due(Priority.STANDARD, wednesday) == london(2026, 11, 27, 10)


def test_standard_skips_the_weekend() -> None:
    friday = london(2026, 11, 27, 15)
    assert SLA.due(Priority.STANDARD, friday) == london(2026, 12, 1, 15)


def test_standard_assigned_at_the_weekend_starts_on_monday_morning() -> None:
    saturday = london(2026, 11, 28, 11)
    assert SLA.due(Priority.STANDARD, saturday) == london(2026, 12, 2, 0)


def test_standard_skips_configured_holidays() -> None:
    sla = SlaPolicy(holidays=frozenset({date(2026, 12, 25), date(2026, 12, 28)}))
    christmas_eve = london(2026, 12, 24, 9)
    assert sla.due(Priority.STANDARD, christmas_eve) == london(2026, 12, 30, 9)


def test_standard_keeps_the_local_time_across_the_clock_change() -> None:
    friday_before_bst_ends = london(2026, 10, 23, 9)
    assert SLA.due(Priority.STANDARD, friday_before_bst_ends) == london(2026, 10, 27, 9)
    assert SLA.due(Priority.STANDARD, friday_before_bst_ends).tzinfo is UTC


def test_sla_numbers_are_configurable() -> None:
    sla = SlaPolicy(urgent=timedelta(hours=1), standard_working_days=5)
    assert sla.due(Priority.URGENT, T0) == T0 + timedelta(hours=1)
    assert sla.due(Priority.STANDARD, london(2026, 11, 25, 10)) == london(2026, 12, 2, 10)


def test_assignment_id_is_stable_per_referral_and_round() -> None:
    rid = uuid4()
    assert assignment_id(rid, 1) == f"asg_{rid}_1"
    assert assignment_id(rid, 1) == assignment_id(rid, 1)
    assert assignment_id(rid, 2) != assignment_id(rid, 1)


def test_first_assignment_carries_the_decision_and_the_referral() -> None:
    rid = uuid4()
    made = first_assignment(received_event(rid), decision_for(rid, "juno"), T0)
    assert made is not None
    assert made.assignment_id == f"asg_{rid}_1"
    assert made.provider is Provider.JUNO
    assert made.reason == Reason.DECISION.value
    assert made.referral.victim.name == "Sam Example"


def test_out_of_area_makes_no_assignment() -> None:
    rid = uuid4()
    decision = decision_for(rid, None, pathway="out_of_area")
    assert first_assignment(received_event(rid), decision, T0) is None


def test_next_round_goes_to_the_lead_provider_with_a_new_id() -> None:
    rid = uuid4()
    first = first_assignment(received_event(rid), decision_for(rid, "equation"), T0)
    assert first is not None
    later = T0 + timedelta(hours=1)
    second = next_round(first, 2, Reason.DECLINED, later)
    assert (second.assignment_id, second.provider, second.reason, second.assigned_at) == (
        f"asg_{rid}_2",
        Provider.NWA,
        "reroute_declined",
        later,
    )
    assert second.decision == first.decision
    assert second.referral == first.referral


@pytest.mark.parametrize("provider", [Provider.JUNO, Provider.EQUATION])
def test_a_subcontractor_hands_on_to_the_lead_provider(provider: Provider) -> None:
    assert reroute_target(provider) is Provider.NWA


def test_the_lead_provider_hands_on_to_nobody() -> None:
    assert reroute_target(Provider.NWA) is None


@pytest.mark.parametrize(
    ("state", "status", "expected"),
    [
        (State.ASSIGNED, ResponseStatus.ACCEPTED, State.ACCEPTED),
        (State.ASSIGNED, ResponseStatus.CONTACTED, State.CONTACTED),
        (State.ASSIGNED, ResponseStatus.DECLINED, State.DECLINED),
        (State.ACCEPTED, ResponseStatus.CONTACTED, State.CONTACTED),
        (State.ACCEPTED, ResponseStatus.DECLINED, State.DECLINED),
    ],
)
def test_answers_move_an_assignment_forward(
    state: State, status: ResponseStatus, expected: State
) -> None:
    assert after_response(state, status) is expected


@pytest.mark.parametrize(
    ("state", "status"),
    [
        (State.DECLINED, ResponseStatus.ACCEPTED),
        (State.CONTACTED, ResponseStatus.ACCEPTED),
        (State.CONTACTED, ResponseStatus.DECLINED),
        (State.ACCEPTED, ResponseStatus.ACCEPTED),
    ],
)
def test_answers_never_move_an_assignment_back(state: State, status: ResponseStatus) -> None:
    with pytest.raises(InvalidTransition):
        after_response(state, status)


def test_every_state_has_its_transitions() -> None:
    assert set(TRANSITIONS) == set(State)
