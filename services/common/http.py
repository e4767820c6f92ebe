"""The HTTP edge every service's API shares: body limit, bearer auth, HEAD.

Rules kept here:
- a request body over the limit is refused with 413 before anything parses it, whether its
  size is declared (Content-Length) or not (chunked: read up to the limit, then refused);
- callers are authenticated before the body is read or validated: a missing or unknown
  `Authorization: Bearer <key>` on a protected path is 401 (the scheme is case-insensitive,
  RFC 9110 section 11.1), so an anonymous caller learns nothing about the body's rules;
- HEAD works wherever GET does (the GET answer, without its body);
- every error answer here is the shared `ErrorBody` of `services.common.http_errors`, the one
  HTTP error module.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.common.db import UNAVAILABLE
from services.common.http_errors import error_response, unauthorised, unavailable_handler
from shared import FieldError

__all__ = ["BearerAuth", "BodySizeLimit", "HeadAsGet", "bearer_token"]


def bearer_token(authorization: str | None) -> str | None:
    """The token of `Bearer <token>`, whatever the scheme's case; None if there is none."""
    scheme, _, token = (authorization or "").strip().partition(" ")
    token = token.strip()
    return token if scheme.lower() == "bearer" and token else None


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
