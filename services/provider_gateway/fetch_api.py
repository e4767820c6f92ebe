"""`GET /v1/assignments/{referral_id}`: a provider reads its assignment, details included.

This is where a provider on thin deliveries (claim check) fetches the personal details its
webhook left out; providers on full deliveries may read here too.

Rules kept here:
- the caller is the provider whose API key is the Bearer token (the shared `BearerAuth` of
  `api.add_provider_api`);
- 200: the caller's current assignment, with its body; 404: the caller never had an assignment
  of this referral (unknown and another provider's look the same, so a provider learns nothing
  about referrals that were never its own); 403: the caller had it, but it has passed to
  another provider; 410: the referral's personal data has been erased;
- the body is unsealed for the caller alone (pii-core's `Opener`); a destroyed data key is
  410 like a recorded erasure;
- every fetch that reaches a referral the caller had (200, 403, 410) is audited: referral,
  provider, time and status, never the body; the audit row is written before the body is sent;
- error bodies are the shared `ErrorBody`, documented per status.
"""

# No `from __future__ import annotations`: FastAPI must evaluate the route's annotations.

from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any, Protocol
from uuid import UUID

import structlog
from fastapi import Depends, FastAPI
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from services.common.http_errors import error_docs, field_error
from services.common.sealing import DataKeyDestroyed
from services.provider_gateway.domain import ReferralErased
from services.provider_gateway.ports import Opener, ReferralUnits
from shared import Assignment, Provider

log = structlog.get_logger(__name__)


class FetchAudit(Protocol):
    """Whether a referral was erased, and the append-only record of fetches."""

    async def erased_at(self, referral_id: UUID) -> datetime | None: ...
    async def audit_fetch(
        self, referral_id: UUID, provider: Provider, at: datetime, status: int
    ) -> None: ...


class CurrentAssignment(BaseModel):
    """A provider's current assignment of a referral: where it stands, and its body."""

    assignment_id: str
    referral_id: UUID
    provider: Provider
    round: int
    state: str
    sla_due_at: datetime
    delivered_at: datetime | None
    assignment: Assignment


def _error(status: int, detail: str, code: str, message: str) -> JSONResponse:
    return field_error(status, detail, "referral_id", code, message)


# Stateful testing (schemathesis) and readers follow an assignment to its answer.
_RESPONSE_LINK = {
    "AnswerAssignment": {
        "operationId": "answer_assignment",
        "parameters": {"referral_id": "$response.body#/referral_id"},
    }
}


def add_fetch_route(
    app: FastAPI,
    store: Callable[[], ReferralUnits],
    audit: Callable[[], FetchAudit],
    opener: Opener,
    *,
    caller: Callable[..., Any],
    now: Callable[[], datetime],
) -> None:
    """Add `GET /v1/assignments/{referral_id}`; `caller` is the provider dependency."""

    @app.get(
        "/v1/assignments/{referral_id}",
        response_model=CurrentAssignment,
        tags=["providers"],
        operation_id="read_assignment",
        description=(
            "Your current assignment of the referral, with the referral's details (the claim"
            " check of a thin delivery). Each read is audited. 403: it has passed to another"
            " provider; 410: its personal data has been erased."
        ),
        responses={
            200: {"description": "your current assignment", "links": _RESPONSE_LINK},
            **error_docs(401, 403, 404, 410, 422, 503),
        },
    )
    async def read(referral_id: UUID, provider: Annotated[Provider, Depends(caller)]) -> Any:
        body: Assignment | None = None
        async with store().referral(referral_id) as tx:
            mine = [r for r in await tx.assignments() if r.provider is provider]
            current = [r for r in mine if r.superseded_at is None]
            erased = mine and await audit().erased_at(referral_id) is not None
            if current and not erased:
                try:  # unsealed for this provider alone; a destroyed key is an erasure
                    body = await opener(referral_id, await tx.body(current[-1].assignment_id))
                except (DataKeyDestroyed, ReferralErased):
                    erased = True
        if not mine:
            return _error(404, "no assignment", "not_found", "has no assignment of yours")
        status = 410 if erased else 403 if not current else 200
        await audit().audit_fetch(referral_id, provider, now(), status)
        structlog.contextvars.bind_contextvars(referral_id=str(referral_id))
        log.info("assignment read", provider=provider.value, status=status)
        if erased:
            return _error(410, "erased", "erased", "this referral's personal data was erased")
        if body is None:
            return _error(403, "not yours now", "reassigned", "has passed to another provider")
        row = current[-1]
        return CurrentAssignment(
            assignment_id=row.assignment_id,
            referral_id=row.referral_id,
            provider=row.provider,
            round=row.round,
            state=row.state.value,
            sla_due_at=row.sla_due_at,
            delivered_at=row.delivered_at,
            assignment=body,
        )
