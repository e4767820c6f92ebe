"""The web referral form served by intake: pages under /refer, quick exit at /exit, assets.

`mount_web` adds the pages, the static files of the pinned `govuk-frontend` package
(installed by scripts/web_assets.sh into a git-ignored folder) and the form's own
static files, and the handlers of its refusals. See README "Web referral form".
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import asyncpg
from fastapi import FastAPI
from starlette.staticfiles import StaticFiles

from services.intake.web.drafts import DraftCipher, PgDraftRows, Sessions
from services.intake.web.flow import Accept, WebForm, now
from services.intake.web.guards import (
    FormRefused,
    RateLimit,
    TooManyRequests,
    refused_handler,
    too_many_handler,
)
from services.intake.web.routes import web_router

__all__ = ["GOVUK_DIST", "WebForm", "mount_web", "web_form"]

HERE = Path(__file__).parent
GOVUK_DIST = HERE / "frontend" / "node_modules" / "govuk-frontend" / "dist" / "govuk"


def mount_web(app: FastAPI, form: WebForm, govuk_dist: Path = GOVUK_DIST) -> None:
    """Serve the form on `app` (static folders are checked now: a missing one fails fast)."""
    app.include_router(web_router(form))
    app.mount("/assets", StaticFiles(directory=govuk_dist / "assets"), name="govuk-assets")
    app.mount("/govuk", StaticFiles(directory=govuk_dist), name="govuk")
    app.mount("/web-static", StaticFiles(directory=HERE / "static"), name="web-static")
    app.add_exception_handler(TooManyRequests, too_many_handler)
    app.add_exception_handler(FormRefused, refused_handler)


def web_form(
    pool: Callable[[], asyncpg.Pool | None],
    accept: Accept,
    *,
    draft_key: str,
    ttl_seconds: int,
    exit_url: str,
    cookie_secure: bool,
    rate_limit: str,
) -> WebForm:
    """The form's collaborators; `pool` is read when a page is served (the lifespan makes it)."""
    cipher = DraftCipher(draft_key)

    def sessions() -> Sessions:
        started = pool()
        if started is None:
            raise RuntimeError("intake is not started")
        return Sessions(PgDraftRows(started), cipher, timedelta(seconds=ttl_seconds), now)

    return WebForm(
        sessions=sessions,
        accept=accept,
        exit_url=exit_url,
        cookie_secure=cookie_secure,
        limit=RateLimit(rate_limit),
    )
