"""JSON lines in, decisions out: the reading and answering the offline commands share.

Rules kept here (contract v1, "Offline decisions"):
- one answer per input line, in the same order, so answer n is for line n; a line that cannot be
  decided (not UTF-8, not JSON, not an object, failing validation, or a fault in the rules) gets
  `{"submission_id": ..., "error": "<field: problem; ...>"}` and the run goes on; a blank line is
  such a line too, rather than skipped, to keep that pairing;
- a line is a ReferralReceived when it has `submission` or `referral_id`, else a
  ReferralSubmission; "today" is the UK date of its `received_at` (or `submitted_at`);
- the submission id is echoed on an error line only when it is a well-formed id; errors name
  fields and problems, never the input's values (they may be personal data).
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Final

from pydantic import ValidationError

from services.router.domain import (
    Policy,
    PostcodeDirectory,
    Referral,
    RuleOutcomeError,
    received_on,
    route,
)
from services.router.offline.decision_json import DecisionWriter
from shared import DecisionRequestError, ReferralReceived, ReferralSubmission, field_errors

_ID: Final = re.compile(r"^[A-Za-z0-9._:\-/]{1,64}$")


@dataclass
class Tally:
    """Counts of one `decide` run."""

    decided: int = 0
    errors: int = 0
    pathways: Counter[str] = field(default_factory=Counter)


def read_referral(raw: bytes) -> Referral | DecisionRequestError:
    """One input line as a referral, or the error line that answers it."""
    # Fast path: validate the bytes directly as the likelier model. A wrong guess (text that merely
    # contains "submission") only fails over to the careful path, so it costs time, not truth.
    model = ReferralReceived if b'"submission"' in raw else ReferralSubmission
    try:
        # model_validate_json without its wrapper: the same validator, a call fewer per line
        referral: Referral = model.__pydantic_validator__.validate_json(raw)
    except ValidationError:
        return _read_carefully(raw)
    return referral


def _read_carefully(raw: bytes) -> Referral | DecisionRequestError:
    body = _json_object(raw)
    if isinstance(body, str):
        return DecisionRequestError(submission_id=None, error=f"(line): {body}")
    model = (
        ReferralReceived if "submission" in body or "referral_id" in body else ReferralSubmission
    )
    try:
        return model.model_validate(body)
    except ValidationError as exc:
        problems = "; ".join(f"{e.field}: {e.message}" for e in field_errors(exc))
        return DecisionRequestError(submission_id=_echoable_id(body), error=problems)


def _json_object(raw: bytes) -> dict[str, Any] | str:
    """The line as a JSON object, or what is wrong with it."""
    try:
        text = raw.decode("utf-8").strip()
    except UnicodeDecodeError:
        return "is not UTF-8 text"
    if not text:
        return "is blank"
    try:
        body: Any = json.loads(text)
    except json.JSONDecodeError as exc:
        return f"is not JSON ({exc.msg})"
    return body if isinstance(body, dict) else "is not a JSON object"


def _echoable_id(body: dict[str, Any]) -> str | None:
    inner = body.get("submission")
    candidate = inner.get("submission_id") if isinstance(inner, dict) else body.get("submission_id")
    return candidate if isinstance(candidate, str) and _ID.match(candidate) else None


def decide_lines(
    lines: Iterable[bytes], rules: Policy, postcodes: PostcodeDirectory, tally: Tally | None = None
) -> Iterator[str]:
    """One JSON text (a Decision or an error) per input line, in order."""
    tally = tally if tally is not None else Tally()
    write = DecisionWriter()
    for raw in lines:
        referral = read_referral(raw)
        if isinstance(referral, ReferralSubmission | ReferralReceived):
            try:
                routing = route(referral, rules, received_on(referral), postcodes)
            except RuleOutcomeError as exc:
                sub = referral.submission if isinstance(referral, ReferralReceived) else referral
                referral = DecisionRequestError(
                    submission_id=sub.submission_id, error=f"rules: {exc}"
                )
            else:
                tally.decided += 1
                tally.pathways[routing.outcome.pathway._value_] += 1
                yield write(routing)
                continue
        tally.errors += 1
        yield referral.model_dump_json()


def readable_referrals(lines: Iterable[bytes], tally: Tally) -> Iterator[Referral]:
    """The referrals among `lines`; the others are counted as errors."""
    for raw in lines:
        referral = read_referral(raw)
        if isinstance(referral, DecisionRequestError):
            tally.errors += 1
        else:
            yield referral
