"""A route whose JSON body is validated from the request's bytes, FastAPI's own way as fallback.

FastAPI parses a JSON body into Python objects (`json.loads`), then validates the dict, and
solves the route's dependencies (headers, security) through its generic machinery: about a
tenth of intake's CPU per accepted referral (issue 16). `json_body_route(fast)` gives a route
class that first hands a JSON request's bytes to `fast`, which validates them in one pass
(pydantic's `model_validate_json`, in Rust) and answers, or returns None to let FastAPI's own
handler answer exactly as before.

Rules kept here:
- only a request whose Content-Type is `application/json` (any parameters) is offered to `fast`;
  any other, and any request `fast` declines (a body or header that does not validate), takes
  FastAPI's path unchanged: every error answer (422 naming the field, 400, ...) is FastAPI's own
  and the OpenAPI document is the route's, built from its declared parameters as ever;
- `fast` must decline whatever FastAPI's path would refuse; it answers only what that path would
  have handed to the endpoint, and calls the same endpoint.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.routing import APIRoute

FastHandler = Callable[[Request, bytes], Awaitable[Response | None]]


def is_json(request: Request) -> bool:
    """Whether the request says its body is `application/json` (parameters aside)."""
    media = request.headers.get("content-type", "").partition(";")[0]
    return media.strip().lower() == "application/json"


def json_body_route(fast: FastHandler) -> type[APIRoute]:
    """A route class that tries `fast` on a JSON request's bytes before FastAPI's handler."""

    class JsonBodyRoute(APIRoute):
        def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
            standard = super().get_route_handler()

            async def handler(request: Request) -> Response:
                if is_json(request):
                    # Starlette keeps the bytes read here: FastAPI's path reads them again.
                    answer = await fast(request, await request.body())
                    if answer is not None:
                        return answer
                return await standard(request)

            return handler

    return JsonBodyRoute
