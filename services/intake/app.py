"""Intake's process: the HTTP API, the Kafka subscribers and the outbox relay.

HTTP:  POST /v1/referrals, GET /v1/referrals/{referral_id} (`api.py`), /healthz, /readyz,
       /metrics; the shared edge of `services.common.http` (size limit, auth first, HEAD, 503);
       POST /operator/v1/referrals/{referral_id}/erasure (`operator_api.py`, operators' token).
Kafka: `referrals.submitted.<agency>.v1` and `referrals.submitted.v1` (agency systems; the
       agency from the topic, or from the header on the shared topic: `submissions.py`) ->
       accepted, or `referrals.rejected.v1`;
       `referrals.decided.v1` and `ops.events.v1` -> the status timeline.
       A body that cannot be decoded (bad UTF-8, bad JSON, nested too deep) is a poison message:
       dead-lettered and acknowledged, never redelivered in a loop.
Nothing connects at import time: the pool, the broker and the relay start in the lifespan.
"""

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from uuid import uuid4

import asyncpg
import structlog
from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from faststream.kafka import KafkaBroker, KafkaMessage
from starlette.exceptions import HTTPException as StarletteHTTPException

from services.common.db import UNAVAILABLE, apply_migrations, create_pool
from services.common.http import BearerAuth, BodySizeLimit, HeadAsGet, unavailable_handler
from services.common.kafka import (
    PoisonMessage,
    dead_letter_middleware,
    durable_subscriber,
    make_broker,
)
from services.common.outbox import OutboxRelay, kafka_publisher
from services.common.postcode_data import load_postcode_index
from services.common.runtime import (
    BrokerStarter,
    TaskGroup,
    add_health_routes,
    db_check,
    kafka_ready,
    start_monitor,
)
from services.common.sealing import EnvKek
from services.common.settings import dsn
from services.intake import domain
from services.intake.adapters.erasure_store import ErasureStore
from services.intake.adapters.store import OUTBOX, IntakeStore
from services.intake.api import add_referral_routes
from services.intake.config import IntakeSettings
from services.intake.erasure import retention_schedule
from services.intake.handlers import accept_submission
from services.intake.http_errors import http_error_handler, validation_error_handler
from services.intake.operator_api import add_operator_auth, add_operator_routes
from services.intake.sealing import ReferralSealer
from services.intake.submissions import register_submission_subscribers
from services.intake.web import mount_web, web_form
from shared import (
    Decision,
    OpsEvent,
    ReferralState,
    ReferralSubmission,
    Service,
)
from shared.topics import OPS_EVENTS, REFERRALS_DECIDED

log = structlog.get_logger(__name__)
MIGRATIONS = Path(__file__).parent / "migrations"
# Timeline states intake takes from the gateway's ops events.
TIMELINE_STATES = {
    ReferralState.DELIVERED,
    ReferralState.DELIVERY_FAILED,
    ReferralState.ACCEPTED,
    ReferralState.CONTACTED,
    ReferralState.DECLINED,
    ReferralState.REROUTED,
    ReferralState.OVERDUE,
}


@dataclass
class Runtime:
    """What the lifespan builds and the routes and subscribers use."""

    settings: IntakeSettings
    broker: KafkaBroker
    starter: BrokerStarter
    pool: asyncpg.Pool | None = None
    relay: OutboxRelay | None = None
    sealer: ReferralSealer | None = None
    tasks: TaskGroup = field(default_factory=TaskGroup)

    @property
    def store(self) -> IntakeStore:
        if self.pool is None:
            raise RuntimeError("intake is not started")
        return IntakeStore(self.pool)

    @property
    def erasures(self) -> ErasureStore:
        if self.pool is None:
            raise RuntimeError("intake is not started")
        return ErasureStore(self.pool)

    async def accept(
        self,
        submission: ReferralSubmission,
        *,
        agency_id: str,
        idempotency_key: str | None,
        channel: str,
    ) -> domain.Accepted:
        """`accept_submission` with this process's store, clock, ids, clock-skew allowance
        and sealer."""
        if self.sealer is None:
            raise RuntimeError("intake is not started")
        return await accept_submission(
            self.store,
            submission,
            agency_id=agency_id,
            idempotency_key=idempotency_key,
            channel=channel,
            now=_now,
            new_id=uuid4,
            clock_skew=timedelta(seconds=self.settings.clock_skew_seconds),
            seal=self.sealer,
        )


def _now() -> datetime:
    return datetime.now(UTC)


def create_app(settings: IntakeSettings) -> FastAPI:
    broker = make_broker(
        settings.kafka_bootstrap_servers, client_id="intake", security=settings.kafka_security
    )
    rt = Runtime(settings=settings, broker=broker, starter=BrokerStarter(broker))
    broker.add_middleware(dead_letter_middleware(Service.INTAKE, lambda: broker))
    _register_subscribers(rt)
    # Checked before anything starts: a KEK ring that does not parse stops intake, naming the
    # variable (EnvKek.parse); the sealer is made in the lifespan (the postcode index loads).
    kek = EnvKek.parse(settings.pii_kek_keys.get_secret_value(), settings.pii_kek_primary)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        postcodes = await asyncio.to_thread(load_postcode_index, settings.postcodes_csv)
        if not settings.pii_sealing:
            log.warning("personal data sealing is OFF: a benchmark baseline only (PII_SEALING)")
        rt.sealer = ReferralSealer(kek if settings.pii_sealing else None, postcodes)
        rt.pool = await create_pool(dsn(settings.database_url))
        await apply_migrations(rt.pool, MIGRATIONS)
        # Concurrent: each referral is its own key, so no two rows need each other's order.
        rt.relay = OutboxRelay(
            rt.pool,
            OUTBOX,
            kafka_publisher(broker),
            batch_size=settings.relay_batch_size,
            concurrent=True,
            publish_timeout_seconds=settings.relay_publish_timeout_seconds,
        )
        rt.tasks.start("kafka-connect", rt.starter.run())
        rt.tasks.start(
            "outbox-relay",
            rt.relay.run(
                ready=rt.starter.connected.is_set,
                idle_poll_seconds=settings.relay_idle_poll_seconds,
            ),
        )
        if settings.retention_interval_seconds:  # docs/privacy.md: closed referrals erased
            every = settings.retention_interval_seconds
            job = retention_schedule(
                rt.erasures, days=settings.retention_days, every_seconds=every, now=_now
            )
            rt.tasks.start("retention", job)
        start_monitor(
            rt.tasks,
            service=Service.INTAKE,
            settings=settings,
            starter=rt.starter,
            backlog=rt.relay.backlog,
        )
        log.info("intake started", port=settings.http_port)
        try:
            yield
        finally:
            await rt.tasks.stop()
            await broker.stop()
            await rt.pool.close()

    app = FastAPI(
        title="Referral intake",
        version="1.0.0",
        description="Accepts stalking-advocacy referrals from agencies (contract v1).",
        lifespan=lifespan,
    )
    app.state.runtime = rt
    # Last added runs first: HEAD as GET, then the size limit, then authentication.
    # The operators' routes (/operator/) have their own token, never an agency key.
    add_operator_auth(app, settings.operator_token)
    # A lambda: the store exists only once the lifespan has made the pool.
    app.add_middleware(BearerAuth, authenticate=lambda token: rt.store.agency_for_token(token))  # noqa: PLW0108
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)
    app.add_middleware(HeadAsGet)
    app.add_exception_handler(RequestValidationError, validation_error_handler)
    app.add_exception_handler(StarletteHTTPException, http_error_handler)
    for unavailable in UNAVAILABLE:
        app.add_exception_handler(unavailable, unavailable_handler)
    add_health_routes(
        app,
        lambda: {
            "postgres": db_check(rt.pool),
            "kafka": lambda: kafka_ready(rt.starter),
        },
    )
    add_referral_routes(app, rt.accept, lambda: rt.store)
    add_operator_routes(app, lambda: rt.erasures)
    # The web referral form: same acceptance use case (rt.accept), drafts in intake's schema.
    mount_web(
        app,
        web_form(
            lambda: rt.pool,
            rt.accept,
            draft_key=settings.web_draft_key.get_secret_value(),
            ttl_seconds=settings.web_draft_ttl_seconds,
            exit_url=settings.web_exit_url,
            cookie_secure=settings.web_cookie_secure,
            rate_limit=settings.web_rate_limit,
        ),
    )
    return app


def _register_subscribers(rt: Runtime) -> None:
    broker = rt.broker
    register_submission_subscribers(
        broker,
        accept=rt.accept,
        agency_known=lambda agency: rt.store.agency_known(agency),  # noqa: PLW0108 (store made later)
        header_agencies=rt.settings.kafka_agency_set,
    )

    @durable_subscriber(
        broker,
        REFERRALS_DECIDED,
        group_id="intake-timeline",
        title="intake/decisions",
    )
    async def on_decided(decision: Decision, msg: KafkaMessage) -> None:
        if decision.referral_id is None:
            raise PoisonMessage("decision_without_referral_id")
        await rt.store.record_status(
            referral_id=decision.referral_id,
            state="decided",
            at=decision.decided_at,
            source_event_id=f"decided:{decision.referral_id}",
            provider=decision.provider,
            pathway=decision.pathway,
            priority=decision.priority,
        )

    @durable_subscriber(
        broker,
        OPS_EVENTS,
        group_id="intake-timeline-ops",
        title="intake/ops-events",
    )
    async def on_ops_event(event: OpsEvent) -> None:
        if event.referral_id is None or event.state not in TIMELINE_STATES:
            return
        await rt.store.record_status(
            referral_id=event.referral_id,
            state=event.state.value,
            at=event.at,
            source_event_id=str(event.event_id),
            provider=event.provider,
        )
