"""Reading JSON lines: every line answered, the right model chosen, nothing of the input echoed."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from services.router.domain import PostcodeIndex
from services.router.engine import CachedRules
from services.router.offline.jsonl import Tally, decide_lines, read_referral
from shared import DecisionRequestError, ReferralReceived, ReferralSubmission

MakeBody = Callable[..., dict[str, Any]]


def test_a_line_that_is_not_utf8_gets_an_error_line() -> None:
    answer = read_referral(b'{"submission_id": "\xff\xfe"}')
    assert answer == DecisionRequestError(submission_id=None, error="(line): is not UTF-8 text")


def test_a_line_with_a_submission_key_is_read_as_a_received_referral(make_body: MakeBody) -> None:
    line = {
        "referral_id": "2b0c6b8e-2f8a-4c3e-9a55-1f1c3f1e2d4a",
        "received_at": "2026-11-21T09:00:00+00:00",
        "referrer_agency": "notts-police",
        "submission": make_body(),
    }
    assert isinstance(read_referral(json.dumps(line).encode()), ReferralReceived)


def test_a_submission_merely_mentioning_submission_in_its_text_is_still_read(
    make_body: MakeBody,
) -> None:
    line = json.dumps(make_body(perpetrator__details="submission")).encode()
    assert b'"submission"' in line  # so the fast path guesses wrong, and must recover
    assert isinstance(read_referral(line), ReferralSubmission)


def test_the_id_of_a_bad_received_referral_is_taken_from_its_submission(
    make_body: MakeBody,
) -> None:
    line = {"referral_id": "not-a-uuid", "submission": make_body(submission_id="S-9")}
    answer = read_referral(json.dumps(line).encode())
    assert isinstance(answer, DecisionRequestError)
    assert answer.submission_id == "S-9"
    assert answer.error.startswith("referral_id: ")


def test_every_line_gets_one_answer_in_order_and_the_tally_counts_them(
    make_body: MakeBody, rules: CachedRules, onspd: PostcodeIndex
) -> None:
    raw = [json.dumps(make_body(submission_id="A")).encode(), b"", b"[]", b"{}"]
    tally = Tally()
    answers = [json.loads(a) for a in decide_lines(raw, rules, onspd, tally)]
    assert [a.get("pathway", a.get("error", "")[:8]) for a in answers] == [
        "stalking_advocacy",
        "(line): ",
        "(line): ",
        "submissi",
    ]
    assert (tally.decided, tally.errors, dict(tally.pathways)) == (1, 3, {"stalking_advocacy": 1})
