"""Intake's process: FastAPI with the lifespan that starts the wired intake, and its edge.

HTTP:  POST /v1/referrals, GET /v1/referrals/{referral_id} (`api/referrals.py`), /healthz,
       /readyz, /metrics; the shared edge of `services.common.http` (size limit, auth first, HEAD)
       and its error answers (`services.common.http_errors`);
       POST /operator/v1/referrals/{referral_id}/erasure (`api/operator.py`, operators' token);
       the web referral form (`web/`).
Kafka: `referrals.submitted.<agency>.v1` and `referrals.submitted.v1` -> accepted, or
       `referrals.rejected.v1` through the outbox; `referrals.decided.v1` and `ops.events.v1`
       -> the status timeline (`bootstrap.py`, `subscribers.py`, `handlers/`).
The start-up and shutdown order is the shared one (`services.common.startup`): the sealer is
made before the broker starts, the retention job runs beside the outbox relay.
"""

from __future__ import annotations

from fastapi import FastAPI

from services.common.http import BearerAuth, BodySizeLimit, HeadAsGet
from services.common.http_errors import add_error_handlers
from services.common.startup import service_app, service_lifespan
from services.intake.api import add_operator_auth, add_operator_routes, add_referral_routes
from services.intake.bootstrap import MIGRATIONS, Intake, bootstrap, relay_options
from services.intake.config import IntakeSettings
from services.intake.domain.errors import request_errors
from services.intake.web import mount_web, web_form

__all__ = ["MIGRATIONS", "create_app"]


def create_app(settings: IntakeSettings) -> FastAPI:
    """Intake's app: its lifespan, edge, routes and web form (nothing connects yet)."""
    intake = bootstrap(settings)
    core = intake.core
    lifespan = service_lifespan(
        core, relay=relay_options(settings), extra=intake.loops, prepare=intake.prepare
    )
    app = service_app(
        core,
        lifespan,
        title="Referral intake",
        description="Accepts stalking-advocacy referrals from agencies (contract v1).",
    )
    _add_edge(app, intake)
    add_referral_routes(app, intake.accept, lambda: intake.store)
    add_operator_routes(app, lambda: intake.erasures)
    # The web referral form: the same acceptance use case, drafts in intake's schema.
    mount_web(
        app,
        web_form(
            lambda: core.pool,
            intake.accept,
            draft_key=settings.web_draft_key.get_secret_value(),
            ttl_seconds=settings.web_draft_ttl_seconds,
            exit_url=settings.web_exit_url,
            cookie_secure=settings.web_cookie_secure,
            rate_limit=settings.web_rate_limit,
        ),
    )
    return app


def _add_edge(app: FastAPI, intake: Intake) -> None:
    settings = intake.settings
    # Last added runs first: HEAD as GET, then the size limit, then authentication.
    # The operators' routes (/operator/) have their own token, never an agency key.
    add_operator_auth(app, settings.operator_token)
    # A lambda: the store exists only once the lifespan has made the pool.
    app.add_middleware(BearerAuth, authenticate=lambda token: intake.store.agency_for_token(token))  # noqa: PLW0108
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)
    app.add_middleware(HeadAsGet)
    # Every error answer is the shared one; fields are named as paths into the submission.
    add_error_handlers(app, invalid="the submission is not valid", name_fields=request_errors)
