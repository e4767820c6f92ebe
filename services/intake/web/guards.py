"""Abuse resistance for the web form: per-client rate limiting and refused posts.

Rules kept here:
- each client address has a moving-window budget of form requests (`limits`, the library
  slowapi is built on; in memory, per process); over it, a "try again later" page with
  `Retry-After`, never a bare error;
- a post without its session's CSRF token, or with the honeypot filled, is refused with a
  page that says what happened and how to start again; nothing typed is echoed or logged.
"""

from __future__ import annotations

import time

from fastapi import Request
from limits import parse
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter
from starlette.responses import Response

from services.intake.web import pages

_REASONS = {
    "csrf": (
        403,
        "This form has expired or was not sent from this service. Start again.",
    ),
    "honeypot": (
        400,
        "This form was refused because a hidden field meant for automated programs (website)"
        " was filled in. If you are a person, start again.",
    ),
}


class TooManyRequests(Exception):
    """The client has used its budget of form requests."""

    def __init__(self, retry_after: int) -> None:
        super().__init__("rate limited")
        self.retry_after = retry_after


class FormRefused(Exception):
    """A post that is not accepted: `csrf` or `honeypot`."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class RateLimit:
    """A per-client moving window, e.g. `60/minute`."""

    def __init__(self, rate: str) -> None:
        self._item = parse(rate)
        self._limiter = MovingWindowRateLimiter(MemoryStorage())

    async def check(self, request: Request) -> None:
        client = request.client.host if request.client else "unknown"
        if not self._limiter.hit(self._item, "web-form", client):
            reset, _remaining = self._limiter.get_window_stats(self._item, "web-form", client)
            raise TooManyRequests(max(1, int(reset - time.time())))


async def too_many_handler(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, TooManyRequests)
    response = pages.render(
        "message.html",
        429,
        title="Too many attempts - try again later",
        lines=[
            "You have sent this form too many times in a short time.",
            f"Try again in {exc.retry_after} seconds. What you typed is still saved for 30"
            " minutes.",
        ],
        exit_url="/exit",
    )
    response.headers["Retry-After"] = str(exc.retry_after)
    return response


async def refused_handler(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, FormRefused)
    status, line = _REASONS[exc.reason]
    return pages.render(
        "message.html",
        status,
        title="Sorry, there is a problem",
        lines=[line],
        start=True,
        exit_url="/exit",
    )
