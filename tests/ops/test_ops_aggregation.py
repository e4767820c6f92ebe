"""Timelines, counts and lag, computed without I/O.

Rules checked here:
- a timeline is in time order, and at equal times in pipeline order (intake, router, gateway,
  then the topics); an ops message belongs to a referral by key or by referral id;
- a decision counts once per referral; a state counts distinct referrals and all events;
- lag is end minus committed, or end minus beginning where nothing is committed.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import UUID, uuid4

from services.ops.domain import (
    DecisionFacts,
    OpsRecord,
    PartitionLag,
    StateFact,
    Step,
    merge_steps,
    ops_steps,
    render_lag,
    render_stats,
    render_timeline,
)
from services.ops.domain.stats import count_decisions, count_states
from shared import OpsEvent, ReferralState, Service

RID = UUID("2b0c0000-0000-4000-8000-000000000001")
T0 = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)


def _event(state: ReferralState, at: datetime, referral_id: UUID | None = RID) -> bytes:
    return (
        OpsEvent(event_id=uuid4(), at=at, service=Service.PROVIDER_GATEWAY, state=state)
        .model_copy(update={"referral_id": referral_id})
        .model_dump_json()
        .encode()
    )


def test_steps_are_merged_in_time_order_across_sources() -> None:
    later = Step(T0 + timedelta(seconds=2), "intake", "delivered")
    earlier = Step(T0, "router", "decided")
    assert merge_steps([later], [earlier]) == [earlier, later]


def test_at_the_same_instant_steps_follow_the_pipeline_order_of_sources() -> None:
    steps = [
        Step(T0, "ops.events", "delivered"),
        Step(T0, "gateway", "assigned"),
        Step(T0, "router", "decided"),
        Step(T0, "intake", "received"),
    ]
    assert [s.source for s in merge_steps(steps)] == ["intake", "router", "gateway", "ops.events"]


def test_an_ops_message_belongs_to_a_referral_by_key_or_by_referral_id() -> None:
    other = uuid4()
    records = [
        OpsRecord("ops.events.v1", 0, 1, str(RID), _event(ReferralState.DELIVERED, T0, None)),
        OpsRecord("ops.events.v1", 0, 2, None, _event(ReferralState.ACCEPTED, T0)),
        OpsRecord("ops.events.v1", 0, 3, str(other), _event(ReferralState.DECLINED, T0, other)),
        OpsRecord("ops.events.v1", 0, 4, str(RID), b"not json"),
    ]
    assert [s.what for s in ops_steps(records, RID)] == ["delivered", "accepted"]


def test_a_timeline_leaves_absent_details_out() -> None:
    step = Step(T0, "router", "decided", {"pathway": "triage", "provider": None, "rules": ""})
    text = render_timeline(RID, [step])
    assert text.splitlines()[0] == f"referral {RID}: 1 steps"
    assert text.splitlines()[-1].endswith("decided  pathway=triage")


def test_a_decision_counts_once_per_referral_and_no_provider_is_none() -> None:
    a, b = uuid4(), uuid4()
    counts = count_decisions(
        [
            DecisionFacts(a, "stalking_advocacy", "juno", "standard"),
            DecisionFacts(a, "stalking_advocacy", "juno", "standard"),
            DecisionFacts(b, "out_of_area", None, "urgent"),
        ]
    )
    assert counts["pathway"] == [("out_of_area", 1), ("stalking_advocacy", 1)]
    assert counts["provider"] == [("juno", 1), ("none", 1)]


def test_a_state_counts_distinct_referrals_and_every_event() -> None:
    a, b = uuid4(), uuid4()
    facts = [
        StateFact(a, "delivery_attempted"),
        StateFact(a, "delivery_attempted"),
        StateFact(a, "delivery_attempted"),
        StateFact(b, "delivery_attempted"),
        StateFact(a, "delivered"),
    ]
    assert count_states(facts) == [("delivery_attempted", 2, 4), ("delivered", 1, 1)]


def test_counts_are_listed_largest_first_then_by_name() -> None:
    counts = count_decisions(
        [DecisionFacts(uuid4(), p, None, "standard") for p in ("triage", "b", "triage", "a")]
    )
    assert counts["pathway"] == [("triage", 2), ("a", 1), ("b", 1)]


def test_the_stats_report_names_its_period_and_each_breakdown() -> None:
    text = render_stats(
        [DecisionFacts(RID, "triage", "nwa", "urgent")],
        [StateFact(RID, "received")],
        since=T0,
        until=None,
    )
    assert text.startswith("period: from 2026-11-20T10:00:00+00:00 until now")
    for heading in ("decisions by pathway", "decisions by provider", "decisions by priority"):
        assert heading in text
    assert "referrals by state" in text


def test_lag_is_end_minus_committed() -> None:
    assert PartitionLag("router", "t", 0, committed=7, beginning=0, end=10).lag == 3


def test_a_partition_with_nothing_committed_lags_by_what_is_still_in_the_log() -> None:
    assert PartitionLag("router", "t", 0, committed=None, beginning=4, end=10).lag == 6
    assert PartitionLag("router", "t", 0, committed=-1, beginning=0, end=10).lag == 10


def test_the_lag_report_totals_each_group() -> None:
    rows = [
        PartitionLag("router", "referrals.received.v1", 1, 5, 0, 9),
        PartitionLag("router", "referrals.received.v1", 0, None, 0, 2),
        PartitionLag("intake-timeline", "referrals.decided.v1", 0, 3, 0, 3),
    ]
    lines = render_lag(rows).splitlines()
    assert lines[2].startswith("intake-timeline")
    assert lines[3].split() == ["router", "referrals.received.v1", "0", "-", "2", "2"]
    assert lines[-1].split() == ["router", "6"]
