"""Intake's HTTP error bodies: every 4xx names the field at fault and echoes no input."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared import FieldError


def error_response(status: int, detail: str, errors: Sequence[FieldError]) -> JSONResponse:
    return JSONResponse(
        {"detail": detail, "errors": [e.model_dump() for e in errors]}, status_code=status
    )


def _dotted(loc: Sequence[Any]) -> str:
    parts = list(loc[1:]) if loc and loc[0] in ("body", "header", "path", "query") else list(loc)
    path = ""
    for part in parts:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path or "body"


def request_errors(exc: RequestValidationError) -> list[FieldError]:
    out = []
    for err in exc.errors():
        loc = tuple(err.get("loc", ()))
        extra = (err.get("ctx") or {}).get("field")
        if isinstance(extra, str):
            loc = (*loc, *extra.split("."))
        message = str(err.get("msg", "is invalid")).removeprefix("Value error, ")
        out.append(
            FieldError(field=_dotted(loc), code=str(err.get("type", "invalid")), message=message)
        )
    return out


async def validation_error_handler(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    return error_response(422, "the submission is not valid", request_errors(exc))


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
