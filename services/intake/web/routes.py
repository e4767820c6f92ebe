"""The web referral form's pages: start, who, details, safe contact, check, confirmation, exit.

Rules kept here:
- every POST carries the CSRF token of its server-side session and an empty honeypot, and
  counts against the client's rate limit; a refusal is a page that says what to do next;
- what is typed is kept only in the encrypted server-side draft, never in a URL or cookie;
- the referral is sent through intake's own acceptance use case (`accept`), so validation,
  idempotency, the outbox and the status timeline are the API's; the draft is then deleted;
- /exit is never rate limited: it deletes the draft, expires the cookie and leaves for the
  neutral site.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import structlog
from fastapi import APIRouter, Depends, Request
from pydantic import ValidationError
from starlette.datastructures import FormData
from starlette.responses import Response

from services.intake.domain import Accepted, IdempotencyConflict, SubmissionRefused
from services.intake.errors import validation_errors
from services.intake.web import pages
from services.intake.web.drafts import Draft, Sessions
from services.intake.web.form import AGENCY_BY_KIND, CONTACT, DETAILS, FIELDS, form_errors
from services.intake.web.form import build_submission as build
from services.intake.web.guards import FormRefused, RateLimit
from services.intake.web.summary import BEHAVIOURS, RELATIONSHIPS, summary_rows
from shared import FieldError, ReferralSubmission

log = structlog.get_logger(__name__)
Accept = Callable[..., Awaitable[Accepted]]
_PAGE_FIELDS = {
    DETAILS: [n for n, f in FIELDS.items() if f[0] == DETAILS]
    + ["victim_dob_day", "victim_dob_month", "victim_dob_year"],
    CONTACT: [n for n, f in FIELDS.items() if f[0] == CONTACT],
}
_CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I: read out over the phone


@dataclass
class WebForm:
    """What the pages need: sessions, the acceptance use case, and the settings."""

    sessions: Callable[[], Sessions]
    accept: Accept
    exit_url: str
    cookie_secure: bool
    limit: RateLimit


def web_router(form: WebForm) -> APIRouter:
    router = APIRouter(include_in_schema=False)
    limited = [Depends(form.limit.check)]

    async def session(request: Request) -> tuple[str, Draft] | None:
        sid = request.cookies.get(pages.COOKIE)
        draft = await form.sessions().load(sid)
        return None if sid is None or draft is None else (sid, draft)

    async def posted(request: Request) -> tuple[str, Draft, FormData]:
        data = await request.form()
        found = await session(request)
        token = data.get("csrf_token")
        if found is None or not isinstance(token, str):
            raise FormRefused("csrf")
        if not hmac.compare_digest(token.encode(), str(found[1]["csrf"]).encode()):
            raise FormRefused("csrf")
        if data.get("website"):
            log.info("web form honeypot filled")
            raise FormRefused("honeypot")
        return found[0], found[1], data

    def page(template: str, draft: Draft, status: int = 200, **context: Any) -> Response:
        answers = draft["answers"]
        return pages.render(
            template,
            status,
            csrf=draft["csrf"],
            answers=answers,
            kind=_kind(answers),
            exit_url="/exit",
            relationships=list(RELATIONSHIPS.items()),
            behaviours=list(BEHAVIOURS.items()),
            **context,
        )

    @router.get("/refer", dependencies=limited)
    async def start(request: Request) -> Response:
        found = await session(request)
        if found is None:
            sid, draft = await form.sessions().start()
            response = page("start.html", draft)
            pages.set_session_cookie(response, sid, secure=form.cookie_secure)
            return response
        return page("start.html", found[1])

    @router.post("/refer", dependencies=limited)
    async def choose_journey(request: Request) -> Response:
        sid, draft, data = await posted(request)
        journey = data.get("journey")
        if journey not in ("self", "someone_else"):
            errors = [("journey", "Select who you are referring")]
            return page("start.html", draft, 400, errors=errors)
        draft["answers"]["journey"] = journey
        await form.sessions().save(sid, draft)
        return pages.redirect("/refer/details" if journey == "self" else "/refer/who")

    @router.get("/refer/who", dependencies=limited)
    async def who(request: Request) -> Response:
        found = await session(request)
        return pages.redirect("/refer") if found is None else page("who.html", found[1])

    @router.post("/refer/who", dependencies=limited)
    async def choose_who(request: Request) -> Response:
        sid, draft, data = await posted(request)
        kind = data.get("referrer_kind")
        if kind not in ("public_third_party", "professional"):
            errors = [("referrer_kind", "Select whether you are a professional or not")]
            return page("who.html", draft, 400, errors=errors)
        draft["answers"]["referrer_kind"] = kind
        await form.sessions().save(sid, draft)
        return pages.redirect("/refer/details")

    async def question(request: Request, name: str) -> Response:
        found = await session(request)
        if found is None or _kind(found[1]["answers"]) is None:
            return pages.redirect("/refer")
        return page(f"{name}.html", found[1])

    async def answer(request: Request, name: str, next_url: str) -> Response:
        sid, draft, data = await posted(request)
        answers = draft["answers"]
        kind = _kind(answers)
        if kind is None:
            return pages.redirect("/refer")
        for field in _PAGE_FIELDS[name]:
            answers[field] = data.getlist(field) if field == "behaviours" else data.get(field)
        await form.sessions().save(sid, draft)
        errors = form_errors(kind, _problems(kind, answers, name == CONTACT), name)
        if errors:
            return page(f"{name}.html", draft, 400, errors=errors)
        return pages.redirect(next_url)

    @router.get("/refer/details", dependencies=limited)
    async def details(request: Request) -> Response:
        return await question(request, DETAILS)

    @router.post("/refer/details", dependencies=limited)
    async def save_details(request: Request) -> Response:
        return await answer(request, DETAILS, "/refer/safe-contact")

    @router.get("/refer/safe-contact", dependencies=limited)
    async def safe_contact(request: Request) -> Response:
        return await question(request, CONTACT)

    @router.post("/refer/safe-contact", dependencies=limited)
    async def save_safe_contact(request: Request) -> Response:
        return await answer(request, CONTACT, "/refer/check")

    @router.get("/refer/check", dependencies=limited)
    async def check(request: Request) -> Response:
        found = await session(request)
        if found is None or (kind := _kind(found[1]["answers"])) is None:
            return pages.redirect("/refer")
        return page("check.html", found[1], rows=summary_rows(kind, found[1]["answers"]))

    @router.post("/refer/check", dependencies=limited)
    async def send(request: Request) -> Response:
        sid, draft, _data = await posted(request)
        answers = draft["answers"]
        if (kind := _kind(answers)) is None:
            return pages.redirect("/refer")
        # Minted once per draft, so a second click resends the same submission (idempotent).
        draft.setdefault("submission_id", _submission_id(_now()))
        await form.sessions().save(sid, draft)
        raw = build(
            kind, answers, submission_id=draft["submission_id"], now=_now(), contact_answered=True
        )
        try:
            submission = ReferralSubmission.model_validate(raw)
            accepted = await form.accept(
                submission, agency_id=AGENCY_BY_KIND[kind], idempotency_key=None, channel="web"
            )
        except ValidationError as exc:
            return _refused(page, kind, draft, validation_errors(exc))
        except SubmissionRefused as exc:
            return _refused(page, kind, draft, exc.errors)
        except IdempotencyConflict:
            draft.pop("submission_id")
            await form.sessions().save(sid, draft)
            return page(
                "check.html",
                draft,
                409,
                rows=summary_rows(kind, answers),
                errors=[
                    ("", "Your answers changed after sending began. Check them and send again.")
                ],
            )
        await form.sessions().end(sid)
        structlog.contextvars.bind_contextvars(referral_id=str(accepted.referral_id))
        log.info("referral accepted", created=accepted.created, channel="web")
        code = draft["submission_id"].rsplit("-", 1)[-1]
        response = pages.render(
            "confirmation.html", reference=f"{code[:4]} {code[4:]}", kind=kind, exit_url="/exit"
        )
        pages.clear_session_cookie(response, secure=form.cookie_secure)
        return response

    @router.get("/exit")
    async def leave(request: Request) -> Response:
        await form.sessions().end(request.cookies.get(pages.COOKIE))
        response = pages.redirect(form.exit_url)
        response.headers["Clear-Site-Data"] = '"cache", "cookies"'
        pages.clear_session_cookie(response, secure=form.cookie_secure)
        return response

    return router


def _problems(kind: str, answers: dict[str, Any], contact: bool) -> list[FieldError]:
    raw = build(kind, answers, submission_id="WEB-CHECK", now=_now(), contact_answered=contact)
    try:
        ReferralSubmission.model_validate(raw)
    except ValidationError as exc:
        return validation_errors(exc)
    return []


def _refused(page: Any, kind: str, draft: Draft, errors: list[FieldError]) -> Response:
    """The first page with a refused answer, with its errors (else the check page)."""
    for name in (DETAILS, CONTACT):
        found = form_errors(kind, errors, name)
        if found:
            response: Response = page(f"{name}.html", draft, 400, errors=found)
            return response
    rows = summary_rows(kind, draft["answers"])
    refused: Response = page(
        "check.html", draft, 400, rows=rows, errors=form_errors(kind, errors, None)
    )
    return refused


def _kind(answers: dict[str, Any]) -> str | None:
    if answers.get("journey") == "self":
        return "self"
    kind = answers.get("referrer_kind")
    return kind if isinstance(kind, str) else None


def _submission_id(now: datetime) -> str:
    code = "".join(secrets.choice(_CODE_ALPHABET) for _ in range(8))
    return f"WEB-{now:%Y%m%d}-{code}"


def _now() -> datetime:
    return datetime.now(UTC)
