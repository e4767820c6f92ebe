"""The providers' HTTP callback: `POST /v1/assignments/{referral_id}/response`.

Rules kept here:
- the caller is the provider whose API key is the Bearer token (compared in constant time);
  no key, an unknown key: 401;
- a provider answers only for itself and only for its own current assignment of that referral:
  a body naming another provider is 403, no such assignment 404, a move the assignment cannot
  make 409; the same answer twice is accepted again (200, `duplicate: true`);
- error bodies name the field at fault and echo no input.
"""

# No `from __future__ import annotations` here: FastAPI must evaluate the route's annotations,
# and `Depends(caller)` names a function local to `add_response_route`.

import hmac
from collections.abc import Callable, Mapping
from typing import Annotated, Any
from uuid import UUID

import structlog
from fastapi import Depends, FastAPI, Header, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, SecretStr

from services.provider_gateway.domain import InvalidTransition, NotCurrentAssignment
from services.provider_gateway.handlers import Context, record_response
from services.provider_gateway.ports import ReferralUnits
from shared import Provider, ProviderResponse

log = structlog.get_logger(__name__)


class ResponseRecorded(BaseModel):
    referral_id: UUID
    assignment_id: str
    provider: Provider
    state: str
    duplicate: bool


def error(status: int, detail: str, field: str, code: str, message: str) -> JSONResponse:
    return JSONResponse(
        {"detail": detail, "errors": [{"field": field, "code": code, "message": message}]},
        status_code=status,
    )


async def validation_error(_request: Request, exc: Exception) -> JSONResponse:
    """422 naming each field at fault; never the input, which may hold personal data."""
    assert isinstance(exc, RequestValidationError)
    errors = [
        {
            "field": ".".join(str(p) for p in e.get("loc", ())),
            "code": str(e.get("type")),
            "message": str(e.get("msg")),
        }
        for e in exc.errors()
    ]
    return JSONResponse({"detail": "the answer is not valid", "errors": errors}, status_code=422)


def provider_for_key(keys: Mapping[Provider, SecretStr], token: str) -> Provider | None:
    """The provider holding `token`; every key is compared, so timing reveals nothing."""
    found = None
    for provider, key in keys.items():
        if hmac.compare_digest(token.encode(), key.get_secret_value().encode()):
            found = provider
    return found


def add_response_route(
    app: FastAPI,
    keys: Mapping[Provider, SecretStr],
    store: Callable[[], ReferralUnits],
    ctx: Context,
) -> None:
    """Add the callback route (and its 422 handler) to `app`."""
    app.add_exception_handler(RequestValidationError, validation_error)

    async def caller(authorization: Annotated[str | None, Header()] = None) -> Provider | None:
        if not authorization or not authorization.startswith("Bearer "):
            return None
        return provider_for_key(keys, authorization.removeprefix("Bearer ").strip())

    @app.post(
        "/v1/assignments/{referral_id}/response",
        response_model=ResponseRecorded,
        tags=["providers"],
        responses={401: {}, 403: {}, 404: {}, 409: {}, 422: {}},
    )
    async def respond(
        referral_id: UUID,
        response: ProviderResponse,
        provider: Annotated[Provider | None, Depends(caller)],
    ) -> Any:
        if provider is None:
            return error(
                401,
                "a valid provider API key is required",
                "Authorization",
                "unauthorised",
                "send 'Bearer <provider api key>'",
            )
        if response.provider is not provider:
            return error(
                403,
                "a provider answers only for itself",
                "provider",
                "forbidden",
                "is not the provider this API key belongs to",
            )
        if response.referral_id != referral_id:
            return error(
                422,
                "the answer is not valid",
                "referral_id",
                "mismatch",
                "differs from the referral id in the path",
            )
        structlog.contextvars.bind_contextvars(referral_id=str(referral_id))
        try:
            async with store().referral(referral_id) as tx:
                answered = await record_response(tx, response, channel="http", ctx=ctx)
        except NotCurrentAssignment:
            return error(
                404,
                "no current assignment",
                "referral_id",
                "not_found",
                "has no current assignment of yours",
            )
        except InvalidTransition:
            return error(
                409,
                "the assignment cannot take this answer now",
                "status",
                "invalid_transition",
                "cannot follow the assignment's current state",
            )
        log.info(
            "provider answered",
            channel="http",
            provider=provider.value,
            assignment_id=answered.assignment_id,
            state=answered.state.value,
            duplicate=answered.duplicate,
        )
        return ResponseRecorded(
            referral_id=referral_id,
            assignment_id=answered.assignment_id,
            provider=provider,
            state=answered.state.value,
            duplicate=answered.duplicate,
        )
