"""Every service's HTTP error answers: the one body, the handlers that make it, its OpenAPI docs.

Intake and the provider gateway answer every error through this module; their bodies are a
public interface (schemathesis and the tests check them), so nothing here changes a body.

Rules kept here:
- every error body is `ErrorBody`: `{"detail", "errors": [{"field", "code", "message"}, ...]}`
  with at least one error, documented in OpenAPI for each status a route can answer
  (`error_docs`), echoing no input (which may hold personal data);
- a request that fails validation is 422 with the service's own `detail` and its own naming of
  the fields at fault (`add_error_handlers(..., name_fields=...)`): intake names paths into the
  submission (`services.intake.domain.errors`); the default, `located_errors`, joins the
  framework's location with dots (`body.status`), as the gateway has always answered;
- the framework's own errors (an unreadable body, an unknown path, a wrong method) get the same
  body, with the framework's fixed detail text, naming the request part at fault;
- a database that cannot be reached is 503 with `Retry-After`, never a bare 500; the log names
  the failure's type only;
- a missing or unknown API key is 401 with `WWW-Authenticate: Bearer`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from typing import Any, Final

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from services.common.db import UNAVAILABLE
from shared import FieldError

log = structlog.get_logger(__name__)

RETRY_AFTER_SECONDS: Final = 2

Handler = Callable[[Request, Exception], Awaitable[JSONResponse]]
FieldNamer = Callable[[Iterable[Mapping[str, Any]]], list[FieldError]]


class ErrorBody(BaseModel):
    """Every error answer: what went wrong, and each field at fault."""

    detail: str
    errors: list[FieldError] = Field(min_length=1)


_DESCRIPTIONS: Final = {
    400: "The request could not be read (for example, the body is not JSON).",
    401: "No valid API key: send `Authorization: Bearer <api key>`.",
    403: "The API key does not allow this.",
    404: "Nothing of yours is at this address.",
    409: "Conflicts with what was accepted before.",
    410: "Gone: the referral was erased, and its personal details with it.",
    413: "The request body is over the size limit.",
    422: "The request is not valid; each error names its field.",
    503: "A dependency (the database) is unavailable; try again after `Retry-After` seconds.",
}


def error_docs(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` entries with the real error body for each status."""
    docs: dict[int | str, dict[str, Any]] = {}
    for status in statuses:
        entry: dict[str, Any] = {"model": ErrorBody, "description": _DESCRIPTIONS[status]}
        if status == 503:
            entry["headers"] = {
                "Retry-After": {"description": "seconds", "schema": {"type": "integer"}}
            }
        docs[status] = entry
    return docs


def error_response(
    status: int,
    detail: str,
    errors: Sequence[FieldError],
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    body = ErrorBody(detail=detail, errors=list(errors))
    return JSONResponse(body.model_dump(mode="json"), status_code=status, headers=headers)


def field_error(status: int, detail: str, field: str, code: str, message: str) -> JSONResponse:
    """An error answer about one field."""
    return error_response(status, detail, [FieldError(field=field, code=code, message=message)])


def unavailable() -> JSONResponse:
    return error_response(
        503,
        "temporarily unavailable",
        [FieldError(field="request", code="unavailable", message="the database is unavailable")],
        headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
    )


async def unavailable_handler(_request: Request, exc: Exception) -> JSONResponse:
    """The database is down: 503, naming the failure's type only (its text may quote input)."""
    log.warning("database unavailable", error=type(exc).__name__)
    return unavailable()


def unauthorised(detail: str = "a valid API key is required") -> JSONResponse:
    return error_response(
        401,
        detail,
        [FieldError(field="Authorization", code="unauthorised", message="send 'Bearer <api key>'")],
        headers={"WWW-Authenticate": "Bearer"},
    )


# The request part at fault for each framework error, by status.
_HTTP_ERROR_FIELDS: Final = {400: "body", 404: "path", 405: "method", 415: "content-type"}


async def http_error_handler(_request: Request, exc: Exception) -> JSONResponse:
    """Framework errors (for example 400 "error parsing the body") in the shared error shape."""
    assert isinstance(exc, StarletteHTTPException)
    field = _HTTP_ERROR_FIELDS.get(exc.status_code, "request")
    code = "invalid" if exc.status_code == 400 else f"http_{exc.status_code}"
    detail = exc.detail if isinstance(exc.detail, str) else "the request is not valid"
    response = error_response(
        exc.status_code, detail, [FieldError(field=field, code=code, message=detail)]
    )
    if exc.headers:
        response.headers.update(exc.headers)
    return response


def located_errors(errors: Iterable[Mapping[str, Any]]) -> list[FieldError]:
    """Each validation error as the framework locates it: `body.status`, its type and message."""
    return [
        FieldError(
            field=".".join(str(part) for part in err.get("loc", ())),
            code=str(err.get("type")),
            message=str(err.get("msg")),
        )
        for err in errors
    ]


def validation_handler(detail: str, name_fields: FieldNamer = located_errors) -> Handler:
    """422 with `detail`, naming each field at fault with `name_fields`; never the input."""

    async def handle(_request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        return error_response(422, detail, name_fields(exc.errors()))

    return handle


def add_error_handlers(
    app: FastAPI, *, invalid: str, name_fields: FieldNamer = located_errors
) -> None:
    """Answer `app`'s validation, framework and database errors with `ErrorBody`."""
    app.add_exception_handler(RequestValidationError, validation_handler(invalid, name_fields))
    app.add_exception_handler(StarletteHTTPException, http_error_handler)
    for error in UNAVAILABLE:
        app.add_exception_handler(error, unavailable_handler)
