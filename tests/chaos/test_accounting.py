"""The fault matrix's accounting: lost, duplicated, drain time and delay after recovery."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from tests.chaos.accounting import Arrival, account, read_record
from tests.chaos.matrix import RowResult, recovery_too_slow

T0 = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)


def _at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def test_every_accepted_referral_arriving_once_is_all_delivered_and_nothing_lost() -> None:
    accepted = {"r1": _at(0), "r2": _at(1)}
    arrivals = [Arrival("r1", "a1", "w1", _at(2)), Arrival("r2", "a2", "w2", _at(12))]
    outcome = account(accepted, 0, arrivals, fault_end=_at(5))
    assert (outcome.accepted, outcome.delivered, outcome.lost, outcome.duplicates) == (2, 2, [], [])
    assert outcome.ok
    assert outcome.drain_seconds == 7.0
    assert outcome.longest_delay_seconds == 7.0


def test_an_accepted_referral_that_never_arrives_is_lost() -> None:
    outcome = account({"r1": _at(0), "r2": _at(0)}, 0, [Arrival("r1", "a1", "w1", _at(1))], _at(0))
    assert outcome.lost == ["r2"]
    assert not outcome.ok


def test_one_webhook_id_twice_is_a_retry_but_two_ids_for_a_referral_are_a_duplicate() -> None:
    retried = [Arrival("r1", "a1", "w1", _at(1)), Arrival("r1", "a1", "w1", _at(9))]
    assert account({"r1": _at(0)}, 0, retried, _at(0)).duplicates == []
    twice = [Arrival("r1", "a1", "w1", _at(1)), Arrival("r1", "a2", "w2", _at(2))]
    assert account({"r1": _at(0)}, 0, twice, _at(0)).duplicates == ["r1"]


def test_one_assignment_under_two_webhook_ids_is_a_duplicate() -> None:
    arrivals = [Arrival("r1", "a1", "w1", _at(1)), Arrival("r2", "a1", "w2", _at(2))]
    outcome = account({"r1": _at(0), "r2": _at(0)}, 0, arrivals, _at(0))
    assert outcome.duplicates == ["assignment a1"]


def test_the_delay_after_recovery_counts_from_the_later_of_acceptance_and_the_fault_end() -> None:
    accepted = {"early": _at(0), "late": _at(30)}
    arrivals = [Arrival("early", "a1", "w1", _at(25)), Arrival("late", "a2", "w2", _at(32))]
    outcome = account(accepted, 0, arrivals, fault_end=_at(20))
    assert outcome.longest_delay_seconds == 5.0  # early: 25 - 20; late: 32 - 30
    assert outcome.drain_seconds == 12.0


def test_other_rows_referrals_are_ignored() -> None:
    outcome = account({"r1": _at(0)}, 2, [Arrival("other", "a9", "w9", _at(1))], _at(0))
    assert (outcome.delivered, outcome.lost, outcome.refused) == (0, ["r1"], 2)


def test_the_record_file_is_read_and_a_torn_last_line_is_skipped(tmp_path: Path) -> None:
    record = tmp_path / "received.jsonl"
    line = {
        "webhook_id": "w1",
        "provider": "nwa",
        "at": _at(1).isoformat(),
        "assignment": {"referral_id": "r1", "assignment_id": "a1"},
    }
    record.write_text(json.dumps(line) + "\n" + json.dumps(line)[:20])
    assert read_record(record) == [Arrival("r1", "a1", "w1", _at(1))]
    assert read_record(tmp_path / "missing.jsonl") == []


def test_a_provider_outage_row_fails_when_a_waiting_delivery_came_over_a_minute_after_recovery() -> (
    None
):
    accepted = {"r1": _at(0), "r2": _at(0)}
    quick = account(accepted, 0, [Arrival("r1", "a1", "w1", _at(70))], fault_end=_at(20))
    slow = account(accepted, 0, [Arrival("r1", "a1", "w1", _at(81))], fault_end=_at(20))
    assert not recovery_too_slow(RowResult("provider outage", quick, 1.0))
    assert recovery_too_slow(RowResult("provider outage", slow, 1.0))
    assert recovery_too_slow(RowResult("provider outage 30 min", slow, 1.0))
    # Other faults are judged on loss and duplicates, not on this bound.
    assert not recovery_too_slow(RowResult("kill -9 Kafka", slow, 1.0))
