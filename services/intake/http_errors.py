"""Intake's HTTP error bodies: every 4xx names the field at fault and echoes no input.

Rules kept here:
- every error body is `{"detail", "errors": [{"field", "code", "message"}, ...]}` with at least
  one error, each naming a field (a dotted path into the body, a header, or the request part
  at fault: `body`, `path`, `method`);
- errors raised by the framework itself (an unparseable body, an unknown path, a wrong method)
  get the same shape, with the framework's fixed detail text and never the input;
- the body model and `BodySizeLimit` are the shared ones of `services.common.http`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from services.common.http import BodySizeLimit, error_response, http_error_handler
from services.intake.errors import request_errors


async def validation_error_handler(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    return error_response(422, "the submission is not valid", request_errors(exc.errors()))


Handler = Callable[[Request, Exception], Awaitable[JSONResponse]]

__all__ = [
    "BodySizeLimit",
    "Handler",
    "error_response",
    "http_error_handler",
    "validation_error_handler",
]
