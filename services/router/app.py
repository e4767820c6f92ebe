"""Router's process: FastAPI with the lifespan that starts the wired router, and health routes.

Kafka: `referrals.received.v1` (group `router`) -> the decision and its ops copy, through the
outbox (`bootstrap.py`, `subscribers.py`, `handlers.py`). HTTP: /healthz, /readyz, /metrics.
The start-up and shutdown order is the shared one (`services.common.startup`).
"""

from __future__ import annotations

import sys

from fastapi import FastAPI
from pydantic import ValidationError

from services.common.serving import serve
from services.common.settings import missing_settings_message
from services.common.startup import service_app, service_lifespan
from services.router.bootstrap import RELAY, bootstrap
from services.router.config import RouterSettings
from services.router.ports import Decide
from services.router.subscribers import GROUP_ID

__all__ = ["GROUP_ID", "create_app", "main"]


def create_app(settings: RouterSettings, decide: Decide | None = None) -> FastAPI:
    """The router's app; `decide` replaces the rules in force (documentation, tests)."""
    core = bootstrap(settings, decide=decide)
    return service_app(core, service_lifespan(core, relay=RELAY), title="Referral router")


def main() -> None:
    """`python -m services.router serve`."""
    try:
        settings = RouterSettings()  # filled from the environment
    except ValidationError as exc:
        sys.exit(missing_settings_message(exc, "ROUTER_"))
    serve("router", settings, lambda: create_app(settings))
