"""What every page of the web form shares: its collaborators, its session, a checked post,
a rendered page, and asking and answering a question page.

Rules kept here:
- every POST carries the CSRF token of its server-side session and an empty honeypot;
- what is typed is kept only in the encrypted server-side draft, never in a URL or cookie;
- a question page keeps only its own fields, and shows only the contract's errors about them.
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import structlog
from fastapi import Request
from pydantic import ValidationError
from starlette.datastructures import FormData
from starlette.responses import Response

from services.intake.domain import Acceptance
from services.intake.domain.errors import validation_errors
from services.intake.web import pages
from services.intake.web.drafts import Draft, Sessions
from services.intake.web.form import CONTACT, DETAILS, FIELDS, form_errors
from services.intake.web.form import build_submission as build
from services.intake.web.guards import FormRefused, RateLimit
from services.intake.web.summary import BEHAVIOURS, RELATIONSHIPS
from shared import FieldError, ReferralSubmission

log = structlog.get_logger(__name__)
Accept = Callable[..., Awaitable[Acceptance]]
_PAGE_FIELDS = {
    DETAILS: [n for n, f in FIELDS.items() if f[0] == DETAILS]
    + ["victim_dob_day", "victim_dob_month", "victim_dob_year"],
    CONTACT: [n for n, f in FIELDS.items() if f[0] == CONTACT],
}


@dataclass
class WebForm:
    """What the pages need: sessions, the acceptance use case, and the settings."""

    sessions: Callable[[], Sessions]
    accept: Accept
    exit_url: str
    cookie_secure: bool
    limit: RateLimit


class FormPages:
    """The helpers every route shares: its session, a checked post, a rendered page."""

    def __init__(self, form: WebForm) -> None:
        self.form = form

    async def session(self, request: Request) -> tuple[str, Draft] | None:
        sid = request.cookies.get(pages.COOKIE)
        draft = await self.form.sessions().load(sid)
        return None if sid is None or draft is None else (sid, draft)

    async def posted(self, request: Request) -> tuple[str, Draft, FormData]:
        data = await request.form()
        found = await self.session(request)
        token = data.get("csrf_token")
        if found is None or not isinstance(token, str):
            raise FormRefused("csrf")
        if not hmac.compare_digest(token.encode(), str(found[1]["csrf"]).encode()):
            raise FormRefused("csrf")
        if data.get("website"):
            log.info("web form honeypot filled")
            raise FormRefused("honeypot")
        return found[0], found[1], data

    def page(self, template: str, draft: Draft, status: int = 200, **context: Any) -> Response:
        answers = draft["answers"]
        return pages.render(
            template,
            status,
            csrf=draft["csrf"],
            answers=answers,
            kind=kind_of(answers),
            exit_url="/exit",
            relationships=list(RELATIONSHIPS.items()),
            behaviours=list(BEHAVIOURS.items()),
            **context,
        )

    async def question(self, request: Request, name: str) -> Response:
        found = await self.session(request)
        if found is None or kind_of(found[1]["answers"]) is None:
            return pages.redirect("/refer")
        return self.page(f"{name}.html", found[1])

    async def answer(self, request: Request, name: str, next_url: str) -> Response:
        sid, draft, data = await self.posted(request)
        answers = draft["answers"]
        kind = kind_of(answers)
        if kind is None:
            return pages.redirect("/refer")
        for field in _PAGE_FIELDS[name]:
            answers[field] = data.getlist(field) if field == "behaviours" else data.get(field)
        await self.form.sessions().save(sid, draft)
        errors = form_errors(kind, problems(kind, answers, name == CONTACT), name)
        if errors:
            return self.page(f"{name}.html", draft, 400, errors=errors)
        return pages.redirect(next_url)


def problems(kind: str, answers: dict[str, Any], contact: bool) -> list[FieldError]:
    raw = build(kind, answers, submission_id="WEB-CHECK", now=now(), contact_answered=contact)
    try:
        ReferralSubmission.model_validate(raw)
    except ValidationError as exc:
        return validation_errors(exc)
    return []


def kind_of(answers: dict[str, Any]) -> str | None:
    if answers.get("journey") == "self":
        return "self"
    kind = answers.get("referrer_kind")
    return kind if isinstance(kind, str) else None


def now() -> datetime:
    return datetime.now(UTC)
