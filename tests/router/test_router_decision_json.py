"""The `decide` command's writer: a Decision's JSON from its parts, byte for byte pydantic's own."""

from __future__ import annotations

import json
import random
from typing import Any

import pytest

from bench.decide_bench import MIX, referral
from services.router.domain import PostcodeIndex, Routing, received_on, route
from services.router.engine import CachedRules
from services.router.offline import decision_json
from services.router.offline.decision_json import DecisionWriter
from services.router.offline.jsonl import read_referral
from shared import ReferralReceived, ReferralSubmission

# Receipt instants a writer must spell as pydantic does: Z for UTC, other offsets, fractions.
INSTANTS = [
    "2026-06-30T23:30:00+00:00",
    "2026-03-29T00:59:59.5+00:00",
    "2026-10-25T01:30:00.000001+01:00",
    "2026-11-20T10:15:00Z",
    "2026-11-20T04:45:00-05:30",
]


def _referrals(onspd: PostcodeIndex, count: int) -> list[ReferralSubmission | ReferralReceived]:
    """The benchmark's varied referrals, a third of them wrapped as received ones."""
    rng = random.Random(7)
    places = [(w, [p for d in districts for p in onspd.in_district(d)]) for w, districts in MIX]
    found: list[ReferralSubmission | ReferralReceived] = []
    for i in range(count):
        body: dict[str, Any] = referral(rng, i, places)
        if i % 3 == 0:
            body = {
                "referral_id": f"2b0c6b8e-2f8a-4c3e-9a55-{i:012d}",
                "received_at": INSTANTS[i % len(INSTANTS)],
                "referrer_agency": "notts-police",
                "submission": body,
            }
        answer = read_referral(json.dumps(body).encode())
        assert isinstance(answer, ReferralSubmission | ReferralReceived), answer
        found.append(answer)
    return found


def _routings(
    referrals: list[ReferralSubmission | ReferralReceived], rules: CachedRules, onspd: PostcodeIndex
) -> list[Routing]:
    return [route(r, rules, received_on(r), onspd) for r in referrals]


@pytest.fixture(scope="module")
def routings(rules: CachedRules, county_juno: CachedRules, onspd: PostcodeIndex) -> list[Routing]:
    referrals = _referrals(onspd, 1500)
    return _routings(referrals, rules, onspd) + _routings(referrals, county_juno, onspd)


def test_the_shipped_contract_is_written_from_its_parts() -> None:
    assert DecisionWriter().exact


def test_a_written_decision_is_the_dumped_decision_byte_for_byte(routings: list[Routing]) -> None:
    write = DecisionWriter()
    for _ in range(2):  # the second time from the kept pieces
        for routing in routings:
            assert write(routing) == routing.decision().model_dump_json()


def test_equal_steps_and_localities_are_one_object_so_their_json_is_written_once(
    routings: list[Routing],
) -> None:
    steps = [step for routing in routings for step in routing.trace]
    assert len({id(s) for s in steps}) < len(steps) / 2
    assert len({id(r.locality) for r in routings}) < 100


def test_a_contract_the_writer_does_not_join_is_dumped_whole(
    routings: list[Routing], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(decision_json, "_FIELDS", ("referral_id", "submission_id"))
    write = DecisionWriter()
    assert not write.exact
    assert [write(r) for r in routings[:50]] == [
        r.decision().model_dump_json() for r in routings[:50]
    ]
