"""Intake's HTTP API for agencies: `POST /v1/referrals` and `GET /v1/referrals/{referral_id}`.

Rules kept here:
- the caller is the agency whose API key is the Bearer token, authenticated by the shared
  `BearerAuth` middleware before the body is read (401 before 413 or 422);
- one submission, one referral (the rule is `accept_submission`'s): the same submission again,
  with or without an Idempotency-Key, is 200 with the original referral; other content under
  the same `submission_id` is 409 naming `submission_id`; an Idempotency-Key already used for
  another submission is 409 naming `Idempotency-Key`;
- an agency reads only the referrals it submitted; another's is the same 404 as none at all;
- every error body is `ErrorBody`, documented per status, echoing no input.
"""

# No `from __future__ import annotations`: FastAPI must evaluate the routes' annotations.

from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

import structlog
from fastapi import Depends, FastAPI, Header, Request, Response, Security
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ValidationError

from services.common.http_errors import error_docs, error_response
from services.intake.api.examples import SUBMISSION_EXAMPLES
from services.intake.api.json_body import json_body_route
from services.intake.domain import IdempotencyConflict, SubmissionRefused
from services.intake.ports import Accept, TimelineReader
from shared import FieldError, ReferralSubmission

log = structlog.get_logger(__name__)

IDEMPOTENCY_RULE = """\
**One submission, one referral.** `(agency, submission_id)` identifies a submission, on every
path (this API with or without `Idempotency-Key`, and the `referrals.submitted.v1` topic):

- the same content again returns the original referral: `200`, no second referral;
- different content under the same `submission_id` is `409`, naming `submission_id`;
- `Idempotency-Key` (optional) is an extra name for a submission: the first submission sent with
  it owns it; the same key with another `submission_id` is `409`, naming `Idempotency-Key`.

"The same content" means the same submission after validation: key order, JSON spacing and
postcode spelling (`ng72ah` is `NG7 2AH`) do not matter."""

_KEY_MAX = 128  # an Idempotency-Key's longest (the header's declared max_length)
bearer = HTTPBearer(auto_error=False, description="An agency API key: `Bearer <key>`.")


async def agency(
    request: Request,
    _credentials: Annotated[HTTPAuthorizationCredentials | None, Security(bearer)],
) -> str:
    """The agency `BearerAuth` authenticated (declared with `bearer` for OpenAPI)."""
    caller: str = request.state.caller
    return caller


class Accepted(BaseModel):
    referral_id: UUID
    submission_id: str
    status: str
    received_at: datetime


class StatusEntry(BaseModel):
    state: str
    at: datetime
    pathway: str | None = None
    provider: str | None = None
    priority: str | None = None


class ReferralStatus(BaseModel):
    referral_id: UUID
    submission_id: str
    status: str
    timeline: list[StatusEntry]


# Stateful testing (schemathesis) and readers follow these from a submission to its status.
_STATUS_LINK = {
    "GetReferralStatus": {
        "operationId": "get_referral_status",
        "parameters": {"referral_id": "$response.body#/referral_id"},
    }
}


def add_referral_routes(
    app: FastAPI,
    accept: Accept,
    store: Callable[[], TimelineReader],
    *,
    body_from_bytes: bool = True,
) -> None:
    """The agencies' routes; a submission is validated from the request's bytes
    (`json_body`) unless `body_from_bytes` is False (FastAPI's own path only)."""

    async def submit(
        submission: ReferralSubmission,
        agency_id: Annotated[str, Depends(agency)],
        idempotency_key: Annotated[str | None, Header(min_length=1, max_length=_KEY_MAX)] = None,
    ) -> Any:
        try:
            accepted = await accept(
                submission,
                agency_id=agency_id,
                idempotency_key=idempotency_key,
                channel="http",
            )
        except SubmissionRefused as exc:
            return error_response(422, "the submission is not valid", exc.errors)
        except IdempotencyConflict as exc:
            return error_response(
                409,
                "conflicting submission",
                [
                    FieldError(
                        field=exc.field,
                        code="conflict",
                        message="was already used for a different submission",
                    )
                ],
            )
        body = Accepted(
            referral_id=accepted.referral_id,
            submission_id=submission.submission_id,
            status="received",
            received_at=accepted.received_at,
        )
        structlog.contextvars.bind_contextvars(referral_id=str(accepted.referral_id))
        log.info("referral accepted", created=accepted.created, channel="http")
        return JSONResponse(
            body.model_dump(mode="json"),
            status_code=201 if accepted.created else 200,
            headers={"Location": f"/v1/referrals/{accepted.referral_id}"},
        )

    async def submit_from_bytes(request: Request, body: bytes) -> Response | None:
        """`submit` for a body and headers FastAPI's path would hand it; None for any other
        (that path then answers, with its own errors)."""
        keys = request.headers.getlist("idempotency-key")
        if len(keys) > 1 or (keys and not 1 <= len(keys[0]) <= _KEY_MAX):
            return None
        try:
            submission = ReferralSubmission.model_validate_json(body)
        except ValidationError:
            return None
        caller: str = request.state.caller
        answer: Response = await submit(
            submission, agency_id=caller, idempotency_key=keys[0] if keys else None
        )
        return answer

    app.router.add_api_route(
        "/v1/referrals",
        submit,
        methods=["POST"],
        status_code=201,
        response_model=Accepted,
        tags=["referrals"],
        operation_id="submit_referral",
        description=IDEMPOTENCY_RULE,
        responses={
            201: {"description": "accepted: a new referral", "links": _STATUS_LINK},
            200: {
                "model": Accepted,
                "description": "this submission was accepted before: the original referral",
                "links": _STATUS_LINK,
            },
            **error_docs(400, 401, 409, 413, 422, 503),
        },
        openapi_extra={
            "requestBody": {"content": {"application/json": {"examples": SUBMISSION_EXAMPLES}}}
        },
        route_class_override=json_body_route(submit_from_bytes) if body_from_bytes else APIRoute,
    )

    @app.get(
        "/v1/referrals/{referral_id}",
        response_model=ReferralStatus,
        tags=["referrals"],
        operation_id="get_referral_status",
        responses=error_docs(401, 404, 422, 503),
    )
    async def status(referral_id: UUID, agency_id: Annotated[str, Depends(agency)]) -> Any:
        found = await store().timeline(referral_id, agency_id)
        if found is None:
            return error_response(
                404,
                "no such referral",
                [
                    FieldError(
                        field="referral_id",
                        code="not_found",
                        message="no referral of yours has this id",
                    ),
                ],
            )
        submission_id, entries = found
        timeline = [StatusEntry(**e.__dict__) for e in entries]
        return ReferralStatus(
            referral_id=referral_id,
            submission_id=submission_id,
            status=timeline[-1].state if timeline else "received",
            timeline=timeline,
        )
