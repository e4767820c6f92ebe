"""The web referral form's routes: start, who, details, safe contact, check, confirmation, exit.

Rules kept here:
- every form page and post counts against the client's rate limit; /exit never does: it
  deletes the draft, expires the cookie and leaves for the neutral site;
- the referral is sent through intake's own acceptance use case (`accept`), so validation,
  idempotency, the outbox and the status timeline are the API's; the draft is then deleted;
- the confirmation shows a short reference, never the internal id nor anything typed.
"""

from __future__ import annotations

import secrets
from datetime import datetime

import structlog
from fastapi import APIRouter, Depends, Request
from pydantic import ValidationError
from starlette.responses import Response

from services.intake.domain import IdempotencyConflict, SubmissionRefused
from services.intake.domain.errors import validation_errors
from services.intake.web import pages
from services.intake.web.drafts import Draft
from services.intake.web.flow import Accept, FormPages, WebForm, kind_of, now
from services.intake.web.form import AGENCY_BY_KIND, CONTACT, DETAILS, form_errors
from services.intake.web.form import build_submission as build
from services.intake.web.summary import summary_rows
from shared import FieldError, ReferralSubmission

__all__ = ["Accept", "WebForm", "web_router"]

log = structlog.get_logger(__name__)
_CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I: read out over the phone


def web_router(form: WebForm) -> APIRouter:
    router = APIRouter(include_in_schema=False)
    p = FormPages(form)
    _start_routes(router, p)
    _question_routes(router, p)
    _send_routes(router, p)
    return router


def _start_routes(router: APIRouter, p: FormPages) -> None:
    limited = [Depends(p.form.limit.check)]

    @router.get("/refer", dependencies=limited)
    async def start(request: Request) -> Response:
        found = await p.session(request)
        if found is None:
            sid, draft = await p.form.sessions().start()
            response = p.page("start.html", draft)
            pages.set_session_cookie(response, sid, secure=p.form.cookie_secure)
            return response
        return p.page("start.html", found[1])

    @router.post("/refer", dependencies=limited)
    async def choose_journey(request: Request) -> Response:
        sid, draft, data = await p.posted(request)
        journey = data.get("journey")
        if journey not in ("self", "someone_else"):
            errors = [("journey", "Select who you are referring")]
            return p.page("start.html", draft, 400, errors=errors)
        draft["answers"]["journey"] = journey
        await p.form.sessions().save(sid, draft)
        return pages.redirect("/refer/details" if journey == "self" else "/refer/who")

    @router.get("/refer/who", dependencies=limited)
    async def who(request: Request) -> Response:
        found = await p.session(request)
        return pages.redirect("/refer") if found is None else p.page("who.html", found[1])

    @router.post("/refer/who", dependencies=limited)
    async def choose_who(request: Request) -> Response:
        sid, draft, data = await p.posted(request)
        kind = data.get("referrer_kind")
        if kind not in ("public_third_party", "professional"):
            errors = [("referrer_kind", "Select whether you are a professional or not")]
            return p.page("who.html", draft, 400, errors=errors)
        draft["answers"]["referrer_kind"] = kind
        await p.form.sessions().save(sid, draft)
        return pages.redirect("/refer/details")


def _question_routes(router: APIRouter, p: FormPages) -> None:
    limited = [Depends(p.form.limit.check)]

    @router.get("/refer/details", dependencies=limited)
    async def details(request: Request) -> Response:
        return await p.question(request, DETAILS)

    @router.post("/refer/details", dependencies=limited)
    async def save_details(request: Request) -> Response:
        return await p.answer(request, DETAILS, "/refer/safe-contact")

    @router.get("/refer/safe-contact", dependencies=limited)
    async def safe_contact(request: Request) -> Response:
        return await p.question(request, CONTACT)

    @router.post("/refer/safe-contact", dependencies=limited)
    async def save_safe_contact(request: Request) -> Response:
        return await p.answer(request, CONTACT, "/refer/check")

    @router.get("/refer/check", dependencies=limited)
    async def check(request: Request) -> Response:
        found = await p.session(request)
        if found is None or (kind := kind_of(found[1]["answers"])) is None:
            return pages.redirect("/refer")
        return p.page("check.html", found[1], rows=summary_rows(kind, found[1]["answers"]))


def _send_routes(router: APIRouter, p: FormPages) -> None:
    form = p.form

    @router.post("/refer/check", dependencies=[Depends(form.limit.check)])
    async def send(request: Request) -> Response:
        sid, draft, _data = await p.posted(request)
        answers = draft["answers"]
        if (kind := kind_of(answers)) is None:
            return pages.redirect("/refer")
        # Minted once per draft, so a second click resends the same submission (idempotent).
        draft.setdefault("submission_id", _submission_id(now()))
        await form.sessions().save(sid, draft)
        raw = build(
            kind, answers, submission_id=draft["submission_id"], now=now(), contact_answered=True
        )
        try:
            submission = ReferralSubmission.model_validate(raw)
            accepted = await form.accept(
                submission, agency_id=AGENCY_BY_KIND[kind], idempotency_key=None, channel="web"
            )
        except ValidationError as exc:
            return _refused(p, kind, draft, validation_errors(exc))
        except SubmissionRefused as exc:
            return _refused(p, kind, draft, exc.errors)
        except IdempotencyConflict:
            draft.pop("submission_id")
            await form.sessions().save(sid, draft)
            message = "Your answers changed while sending. Check them and send again."
            rows = summary_rows(kind, answers)
            return p.page("check.html", draft, 409, rows=rows, errors=[("", message)])
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


def _refused(p: FormPages, kind: str, draft: Draft, errors: list[FieldError]) -> Response:
    """The first page with a refused answer, with its errors (else the check page)."""
    for name in (DETAILS, CONTACT):
        found = form_errors(kind, errors, name)
        if found:
            return p.page(f"{name}.html", draft, 400, errors=found)
    rows = summary_rows(kind, draft["answers"])
    return p.page("check.html", draft, 400, rows=rows, errors=form_errors(kind, errors, None))


def _submission_id(now: datetime) -> str:
    code = "".join(secrets.choice(_CODE_ALPHABET) for _ in range(8))
    return f"WEB-{now:%Y%m%d}-{code}"
