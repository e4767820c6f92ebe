"""The HTTP edge every service's API shares: error bodies, body limit, bearer auth, HEAD, 503.

Rules kept here:
- every error body is `ErrorBody`: `{"detail", "errors": [{"field", "code", "message"}]}`,
  documented in OpenAPI for each status a route can answer (`error_docs`), echoing no input;
- a request body over the limit is refused with 413 before anything parses it, whether its
  size is declared (Content-Length) or not (chunked: read up to the limit, then refused);
- callers are authenticated before the body is read or validated: a missing or unknown
  `Authorization: Bearer <key>` on a protected path is 401 (the scheme is case-insensitive,
  RFC 9110 section 11.1), so an anonymous caller learns nothing about the body's rules;
- HEAD works wherever GET does (the GET answer, without its body);
- a database that cannot be reached is 503 with `Retry-After`, never a bare 500;
- the framework's own errors (unknown path, wrong method, unreadable body) get the same body.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Final

import structlog
from fastapi import Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.common.db import UNAVAILABLE
from shared import FieldError

log = structlog.get_logger(__name__)

RETRY_AFTER_SECONDS: Final = 2


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


# The request part at fault for each framework error, by status.
_HTTP_ERROR_FIELDS = {400: "body", 404: "path", 405: "method", 415: "content-type"}


async def http_error_handler(_request: Request, exc: Exception) -> JSONResponse:
    """Framework errors (for example 400 "error parsing the body") in intake's error shape."""
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


def bearer_token(authorization: str | None) -> str | None:
    """The token of `Bearer <token>`, whatever the scheme's case; None if there is none."""
    scheme, _, token = (authorization or "").strip().partition(" ")
    token = token.strip()
    return token if scheme.lower() == "bearer" and token else None


def unauthorised(detail: str = "a valid API key is required") -> JSONResponse:
    return error_response(
        401,
        detail,
        [FieldError(field="Authorization", code="unauthorised", message="send 'Bearer <api key>'")],
        headers={"WWW-Authenticate": "Bearer"},
    )


class BearerAuth:
    """ASGI middleware: authenticate requests to `prefix` before the app reads anything.

    `authenticate(token)` gives the caller (an agency id, a provider) or None; the caller is
    put in `request.state.caller` for the routes.
    """

    def __init__(
        self,
        app: ASGIApp,
        authenticate: Callable[[str], Awaitable[object | None]],
        prefix: str = "/v1/",
    ) -> None:
        self.app = app
        self.authenticate = authenticate
        self.prefix = prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not str(scope.get("path", "")).startswith(self.prefix):
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers", []))
        token = bearer_token(headers.get(b"authorization", b"").decode("latin-1"))
        try:
            caller = await self.authenticate(token) if token else None
        except UNAVAILABLE as exc:
            await (await unavailable_handler(Request(scope), exc))(scope, receive, send)
            return
        if caller is None:
            await unauthorised()(scope, receive, send)
            return
        scope.setdefault("state", {})["caller"] = caller
        await self.app(scope, receive, send)


class BodySizeLimit:
    """ASGI middleware: refuse request bodies over `max_bytes` with 413, before parsing.

    The body is read here (at most `max_bytes`) and handed on whole, so an oversized chunked
    body is refused by this middleware, not by the framework's parser (which would say 400).
    """

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers", [])).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._too_large(scope, receive, send)
            return
        chunks: list[bytes] = []
        size = 0
        more = True
        while more:
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                await self._too_large(scope, receive, send)
                return
            chunks.append(chunk)
            more = message.get("more_body", False)
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": b"".join(chunks), "more_body": False}

        await self.app(scope, replay, send)

    async def _too_large(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = error_response(
            413,
            "request body too large",
            [FieldError(field="body", code="too_large", message=f"exceeds {self.max_bytes} bytes")],
        )
        await response(scope, receive, send)


class HeadAsGet:
    """ASGI middleware: answer HEAD as GET would, without the body (RFC 9110 section 9.3.2)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "HEAD":
            await self.app(scope, receive, send)
            return

        async def headers_only(message: Message) -> None:
            if message["type"] == "http.response.body":
                message = {**message, "body": b""}
            await send(message)

        await self.app({**scope, "method": "GET"}, receive, headers_only)
