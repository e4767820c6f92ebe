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
from starlette.exceptions import HTTPException as StarletteHTTPException

from services.common.http import BodySizeLimit, error_response
from services.intake.errors import request_errors
from shared import FieldError


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


Handler = Callable[[Request, Exception], Awaitable[JSONResponse]]

__all__ = [
    "BodySizeLimit",
    "Handler",
    "error_response",
    "http_error_handler",
    "validation_error_handler",
]
