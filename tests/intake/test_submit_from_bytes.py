"""`POST /v1/referrals` validates a JSON body from its bytes, and answers as FastAPI would.

Rules checked here (api/json_body.py, api/referrals.py), over ASGI with the real edge (bearer
auth, the shared error answers) and an in-memory acceptance:
- a valid JSON submission is validated once, from the request's bytes: FastAPI's dict parse
  (`Request.json`) is never called, and the use case gets the same submission it got before;
- every request, valid or not (bad JSON, missing or unknown fields, wrong types, another or no
  Content-Type, an empty or over-long or repeated Idempotency-Key, a JSON array), is answered
  exactly as the route without the bytes path answers it: status, body and what the use case
  was handed.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import httpx
import pytest
from fastapi import FastAPI
from starlette.requests import Request

from services.common.http import BearerAuth
from services.common.http_errors import add_error_handlers
from services.intake.api import add_referral_routes
from services.intake.domain import Acceptance
from services.intake.domain.errors import request_errors
from shared import ReferralSubmission

TOKEN = "agency-key-0123456789"
RID = UUID("00000000-0000-4000-8000-000000000001")
AT = datetime(2026, 11, 30, 6, 0, tzinfo=UTC)


class Accepts:
    """The acceptance use case, in memory: what it was handed, in order."""

    def __init__(self) -> None:
        self.calls: list[tuple[ReferralSubmission, dict[str, Any]]] = []

    async def __call__(self, submission: ReferralSubmission, **kwargs: Any) -> Acceptance:
        self.calls.append((submission, kwargs))
        return Acceptance(RID, created=True, received_at=AT)


def _app(accepts: Accepts, *, body_from_bytes: bool) -> FastAPI:
    async def authenticate(token: str) -> str | None:
        return "notts-police" if token == TOKEN else None

    def no_timeline() -> Any:
        raise AssertionError("not read here")

    app = FastAPI()
    if body_from_bytes:  # the default
        add_referral_routes(app, accepts, no_timeline)
    else:
        add_referral_routes(app, accepts, no_timeline, body_from_bytes=False)
    app.add_middleware(BearerAuth, authenticate=authenticate)
    add_error_handlers(app, invalid="the submission is not valid", name_fields=request_errors)
    return app


async def _post(app: FastAPI, content: bytes, headers: list[tuple[str, str]]) -> httpx.Response:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://intake") as client:
        sent = [("authorization", f"Bearer {TOKEN}"), *headers]
        return await client.post("/v1/referrals", content=content, headers=sent)


JSON = [("content-type", "application/json")]


async def test_a_valid_submission_is_validated_from_its_bytes_not_parsed_into_a_dict(
    example_submission: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    async def no_dict_parse(_request: Request) -> Any:
        raise AssertionError("FastAPI's dict parse was used")

    monkeypatch.setattr(Request, "json", no_dict_parse)
    accepts = Accepts()
    body = json.dumps(example_submission).encode()
    answer = await _post(_app(accepts, body_from_bytes=True), body, JSON)
    assert answer.status_code == 201, answer.text
    assert answer.json()["referral_id"] == str(RID)
    assert answer.headers["location"] == f"/v1/referrals/{RID}"
    ((submission, kwargs),) = accepts.calls
    assert submission == ReferralSubmission.model_validate(example_submission)
    assert kwargs == {
        "agency_id": "notts-police",
        "idempotency_key": None,
        "channel": "http",
    }


def _cases(example: dict[str, Any]) -> list[tuple[str, bytes, list[tuple[str, str]]]]:
    body = json.dumps(example).encode()
    missing = {k: v for k, v in example.items() if k != "victim"}
    wrong = example | {"submitted_at": 12}
    unknown = example | {"surprise": True}
    spaced = json.dumps(example, indent=2).encode()
    return [
        ("valid", body, JSON),
        ("valid, JSON spaced", spaced, JSON),
        ("valid, charset", body, [("content-type", "application/json; charset=utf-8")]),
        ("valid, with a key", body, [*JSON, ("idempotency-key", "k-1")]),
        ("key of 128", body, [*JSON, ("idempotency-key", "k" * 128)]),
        ("key too long", body, [*JSON, ("idempotency-key", "k" * 129)]),
        ("key empty", body, [*JSON, ("idempotency-key", "")]),
        ("two keys", body, [*JSON, ("idempotency-key", "a"), ("idempotency-key", "b")]),
        ("not JSON", b'{"submission_id": ', JSON),
        ("not UTF-8", b"\xff\xfe{}", JSON),
        ("empty body", b"", JSON),
        ("a JSON array", b"[1, 2]", JSON),
        ("missing victim", json.dumps(missing).encode(), JSON),
        ("wrong type", json.dumps(wrong).encode(), JSON),
        ("unknown field", json.dumps(unknown).encode(), JSON),
        ("text/plain", body, [("content-type", "text/plain")]),
        ("no content type", body, []),
        ("json suffix type", body, [("content-type", "application/merge-patch+json")]),
    ]


@pytest.mark.parametrize("case", range(18))
async def test_every_request_is_answered_as_fastapis_own_path_answers_it(
    example_submission: dict[str, Any], case: int
) -> None:
    name, content, headers = _cases(example_submission)[case]
    answers: list[tuple[int, Any, list[Any]]] = []
    for body_from_bytes in (True, False):
        accepts = Accepts()
        answer = await _post(_app(accepts, body_from_bytes=body_from_bytes), content, headers)
        answers.append((answer.status_code, answer.json(), accepts.calls))
    assert answers[0] == answers[1], name


def test_the_cases_are_all_run(example_submission: dict[str, Any]) -> None:
    assert len(_cases(example_submission)) == 18
