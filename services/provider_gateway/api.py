"""The providers' HTTP API: `GET /v1/assignments/{referral_id}` (read your assignment, in
`fetch_api`) and `POST /v1/assignments/{referral_id}/response` (answer it).

Rules kept here:
- the caller is the provider whose API key is the Bearer token (compared in constant time),
  authenticated by the shared `BearerAuth` middleware before the body is read: no key, an
  unknown key: 401 (before 413 or 422);
- a provider reads only its own current assignment of a referral (see `fetch_api`: 404 never
  yours, 403 passed to another provider, 410 erased; each read audited);
- a provider answers only for itself and only for its own current assignment of that referral:
  a body naming another provider is 403, no such assignment 404, a move the assignment cannot
  make 409; the same answer twice is accepted again (200, `duplicate: true`);
- error bodies are the shared `ErrorBody`, documented per status; they name the field at
  fault and echo no input.
"""

# No `from __future__ import annotations` here: FastAPI must evaluate the route's annotations,
# and `Depends(caller)` names a function local to `add_response_route`.

import hmac
from collections.abc import Awaitable, Callable, Mapping
from typing import Annotated, Any
from uuid import UUID

import structlog
from fastapi import Depends, FastAPI, Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, SecretStr

from services.common.http import BearerAuth, BodySizeLimit, HeadAsGet
from services.common.http_errors import add_error_handlers, error_docs, field_error
from services.provider_gateway.domain import (
    InvalidTransition,
    NotCurrentAssignment,
    ReferralErased,
)
from services.provider_gateway.fetch_api import FetchAudit, add_fetch_route
from services.provider_gateway.handlers import Context, record_response
from services.provider_gateway.ports import Opener, ReferralUnits
from shared import Provider, ProviderResponse

log = structlog.get_logger(__name__)


class ResponseRecorded(BaseModel):
    referral_id: UUID
    assignment_id: str
    provider: Provider
    state: str
    duplicate: bool


def provider_for_key(keys: Mapping[Provider, SecretStr], token: str) -> Provider | None:
    """The provider holding `token`; every key is compared, so timing reveals nothing."""
    found = None
    for provider, key in keys.items():
        if hmac.compare_digest(token.encode(), key.get_secret_value().encode()):
            found = provider
    return found


def authenticator(
    keys: Mapping[Provider, SecretStr],
) -> Callable[[str], Awaitable[Provider | None]]:
    """For `BearerAuth`: the provider whose key is the token, or None."""

    async def authenticate(token: str) -> Provider | None:
        return provider_for_key(keys, token)

    return authenticate


bearer = HTTPBearer(auto_error=False, description="A provider API key: `Bearer <key>`.")


async def caller(
    request: Request,
    _credentials: Annotated[HTTPAuthorizationCredentials | None, Security(bearer)],
) -> Provider:
    """The provider `BearerAuth` authenticated (declared with `bearer` for OpenAPI)."""
    provider: Provider = request.state.caller
    return provider


def add_provider_api(
    app: FastAPI,
    keys: Mapping[Provider, SecretStr],
    store: Callable[[], ReferralUnits],
    ctx: Context,
    *,
    max_body_bytes: int,
    fetches: Callable[[], FetchAudit],
    opener: Opener,
) -> None:
    """The providers' routes behind the shared edge: size limit, then authentication, HEAD, 503."""
    # Last added runs first: HEAD as GET, then the size limit, then authentication.
    app.add_middleware(BearerAuth, authenticate=authenticator(keys))
    app.add_middleware(BodySizeLimit, max_bytes=max_body_bytes)
    app.add_middleware(HeadAsGet)
    # Every error answer is the shared one; a 422 names each field as the framework locates it.
    add_error_handlers(app, invalid="the answer is not valid")
    add_fetch_route(app, store, fetches, opener, caller=caller, now=ctx.now)
    add_response_route(app, store, ctx)


def add_response_route(app: FastAPI, store: Callable[[], ReferralUnits], ctx: Context) -> None:
    """Add the callback route to `app`."""

    @app.post(
        "/v1/assignments/{referral_id}/response",
        response_model=ResponseRecorded,
        tags=["providers"],
        operation_id="answer_assignment",
        responses=error_docs(400, 401, 403, 404, 409, 410, 413, 422, 503),
    )
    async def respond(
        referral_id: UUID,
        response: ProviderResponse,
        provider: Annotated[Provider, Depends(caller)],
    ) -> Any:
        if response.provider is not provider:
            return field_error(
                403,
                "a provider answers only for itself",
                "provider",
                "forbidden",
                "is not the provider this API key belongs to",
            )
        if response.referral_id != referral_id:
            return field_error(
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
            return field_error(
                404,
                "no current assignment",
                "referral_id",
                "not_found",
                "has no current assignment of yours",
            )
        except ReferralErased:
            return field_error(
                410,
                "erased",
                "referral_id",
                "erased",
                "this referral's personal data was erased: it cannot be handed on",
            )
        except InvalidTransition:
            return field_error(
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
