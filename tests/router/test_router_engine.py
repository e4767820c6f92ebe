"""The engine's `CachedRules`: the rules' own answers, remembered, so only speed differs.

Rules shown here: over the benchmark's varied referrals (a third wrapped as received ones, so
every kind of locality, age source and trace step occurs), routing through `CachedRules` gives
exactly what routing through the bare `Rules` gives, for each shipped version, the second time
(from the memos) as the first; and each `CachedRules` keeps its memos to itself.
"""

from __future__ import annotations

import json
import random
from typing import Any

import pytest

from bench.decide_bench import MIX, referral
from services.router.adapters.rules_files import RULES_DIR, read_rules
from services.router.domain import PostcodeIndex, Referral, received_on, route
from services.router.engine import CachedRules
from services.router.offline.jsonl import read_referral
from shared import ReferralReceived, ReferralSubmission

VERSIONS = ["2026-11-default", "2026-11-county-juno"]


@pytest.fixture(scope="module")
def referrals(onspd: PostcodeIndex) -> list[Referral]:
    rng = random.Random(11)
    places = [(w, [p for d in districts for p in onspd.in_district(d)]) for w, districts in MIX]
    found: list[Referral] = []
    for i in range(600):
        body: dict[str, Any] = referral(rng, i, places)
        if i % 3 == 0:
            body = {
                "referral_id": f"7e57c0de-2f8a-4c3e-9a55-{i:012d}",
                "received_at": "2026-06-30T23:30:00+00:00",
                "referrer_agency": "notts-police",
                "submission": body,
            }
        answer = read_referral(json.dumps(body).encode())
        assert isinstance(answer, ReferralSubmission | ReferralReceived), answer
        found.append(answer)
    return found


@pytest.mark.parametrize("version", VERSIONS)
def test_cached_rules_route_exactly_as_the_rules_themselves(
    version: str, referrals: list[Referral], onspd: PostcodeIndex
) -> None:
    plain = read_rules(RULES_DIR / f"{version}.json")
    cached = CachedRules(plain)
    for _ in range(2):  # the second pass is answered from the memos
        for r in referrals:
            want = route(r, plain, received_on(r), onspd)
            got = route(r, cached, received_on(r), onspd)
            assert got == want
            assert got.decision().model_dump_json() == want.decision().model_dump_json()
    assert 0 < cached.evaluations < len(referrals)


def test_each_cached_rules_keeps_its_memos_to_itself(
    referrals: list[Referral], onspd: PostcodeIndex
) -> None:
    plain = read_rules()
    first, second = CachedRules(plain), CachedRules(plain)
    r = referrals[1]
    a = route(r, first, received_on(r), onspd)
    b = route(r, second, received_on(r), onspd)
    assert a.trace == b.trace
    assert all(x is not y for x, y in zip(a.trace, b.trace, strict=True))
    assert (first.evaluations, second.evaluations) == (1, 1)
