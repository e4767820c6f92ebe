"""The operators' HTTP API: `POST /operator/v1/referrals/{referral_id}/erasure`.

Rules kept here:
- the caller holds the operators' bearer token (INTAKE_OPERATOR_TOKEN, compared in constant
  time), never an agency key: the routes live under `/operator/`, outside the agencies' `/v1/`,
  behind their own `BearerAuth`; no token configured, every request is 401;
- the body names the person acting (`operator`) and why (`reason`, a case reference); both go
  to the append-only audit, never to logs or ops topics;
- erasing is idempotent: the first request erases (200, `erased`), any later one changes
  nothing (200, `already_erased`, with the first erasure's time); an unknown id is 404;
- error bodies are the shared `ErrorBody`, naming the field and echoing no input.
"""

# No `from __future__ import annotations`: FastAPI must evaluate the routes' annotations.

import hmac
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Annotated, Any, Literal
from uuid import UUID

import structlog
from fastapi import FastAPI, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, Field, SecretStr

from services.common.http import BearerAuth
from services.common.http_errors import error_docs, error_response
from services.intake.domain import SubmissionRefused
from services.intake.domain.erasure import ErasureChannel, ErasureOutcome, ErasureRequest
from services.intake.handlers import erase_referral
from services.intake.ports import ErasurePort
from shared import FieldError

log = structlog.get_logger(__name__)

PREFIX = "/operator/"
OPERATOR = "operator"

operator_bearer = HTTPBearer(
    auto_error=False,
    scheme_name="OperatorToken",
    description="The operators' token (INTAKE_OPERATOR_TOKEN): `Bearer <token>`.",
)


class ErasureBody(BaseModel):
    operator: Annotated[str, Field(min_length=1, max_length=80, examples=["j.smith"])]
    reason: Annotated[str, Field(min_length=1, max_length=200, examples=["DPO-2026-0114"])]


class ErasureDone(BaseModel):
    referral_id: UUID
    outcome: Literal["erased", "already_erased"]
    erased_at: datetime


def operator_authenticator(
    token: SecretStr | None,
) -> Callable[[str], Awaitable[str | None]]:
    """For `BearerAuth`: `operator` when the token is the operators' token, else None."""

    async def authenticate(candidate: str) -> str | None:
        if token is None:
            return None
        expected = token.get_secret_value().encode()
        return OPERATOR if hmac.compare_digest(candidate.encode(), expected) else None

    return authenticate


def add_operator_auth(app: FastAPI, token: SecretStr | None) -> None:
    app.add_middleware(BearerAuth, authenticate=operator_authenticator(token), prefix=PREFIX)


def add_operator_routes(app: FastAPI, store: Callable[[], ErasurePort]) -> None:
    @app.post(
        "/operator/v1/referrals/{referral_id}/erasure",
        response_model=ErasureDone,
        tags=["operators"],
        operation_id="erase_referral",
        description=(
            "Erase one referral's personal data: its data key is destroyed, its personal copies"
            " removed, an audit record written and `erased` announced on `ops.events.v1`."
            " Ids, states and timings stay. Idempotent: again, `already_erased` and no change."
        ),
        responses={
            200: {"description": "erased now, or already erased before"},
            **error_docs(401, 404, 422, 503),
        },
    )
    async def erase(
        referral_id: UUID,
        body: ErasureBody,
        _credentials: Annotated[HTTPAuthorizationCredentials | None, Security(operator_bearer)],
    ) -> Any:
        request = ErasureRequest(referral_id, body.operator, body.reason, ErasureChannel.HTTP)
        try:
            done = await erase_referral(store(), request, now=lambda: datetime.now(UTC))
        except SubmissionRefused as exc:
            return error_response(422, "the erasure request is not valid", exc.errors)
        if done.outcome is ErasureOutcome.UNKNOWN or done.erased_at is None:
            return error_response(
                404,
                "no such referral",
                [
                    FieldError(
                        field="referral_id", code="not_found", message="no referral has this id"
                    )
                ],
            )
        structlog.contextvars.bind_contextvars(referral_id=str(referral_id))
        log.info("referral erasure", outcome=done.outcome.value, channel="http")
        return ErasureDone(
            referral_id=referral_id,
            outcome="erased" if done.outcome is ErasureOutcome.ERASED else "already_erased",
            erased_at=done.erased_at,
        )
