"""Intake's HTTP error bodies: every 4xx names the field at fault and echoes no input.

Rules kept here:
- every error body is `{"detail", "errors": [{"field", "code", "message"}, ...]}` with at least
  one error, each naming a field (a dotted path into the body, a header, or the request part
  at fault: `body`, `path`, `method`);
- errors raised by the framework itself (an unparseable body, an unknown path, a wrong method)
  get the same shape, with the framework's fixed detail text and never the input.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.intake.errors import request_errors
from shared import FieldError


def error_response(status: int, detail: str, errors: Sequence[FieldError]) -> JSONResponse:
    return JSONResponse(
        {"detail": detail, "errors": [e.model_dump() for e in errors]}, status_code=status
    )


async def validation_error_handler(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    return error_response(422, "the submission is not valid", request_errors(exc.errors()))


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


class BodySizeLimit:
    """ASGI middleware: refuse request bodies over `max_bytes` with 413, before parsing."""

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
        received = 0

        async def limited() -> Message:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > self.max_bytes:
                raise _TooLarge
            return message

        try:
            await self.app(scope, limited, send)
        except _TooLarge:
            await self._too_large(scope, receive, send)

    async def _too_large(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = error_response(
            413,
            "request body too large",
            [FieldError(field="body", code="too_large", message=f"exceeds {self.max_bytes} bytes")],
        )
        await response(scope, receive, send)


class _TooLarge(Exception):
    pass


Handler = Callable[[Request, Exception], Awaitable[JSONResponse]]
