"""Router's process: a FastStream subscriber on `referrals.received.v1` behind a small HTTP app.

Kafka: `referrals.received.v1` (group `router`, nack on error: a failed store or publish is
redelivered) -> `referrals.decided.v1`, keyed by referral id, with CloudEvents headers.
HTTP:  /healthz, /readyz, /metrics.
A message that is not a valid ReferralReceived is dead-lettered and the consumer goes on.

`build_broker` wires the subscriber, the publisher and the dead-letter edge and needs no database
(a wiring test hands it a fake store); `create_app` adds the pool, migrations and health routes.
Nothing connects until the lifespan starts.
"""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from uuid import NAMESPACE_URL, uuid5

import asyncpg
import structlog
from fastapi import FastAPI
from faststream.kafka import KafkaBroker
from prometheus_client import Counter
from pydantic import ValidationError

from services.common.db import apply_migrations, create_pool
from services.common.kafka import (
    dead_letter_middleware,
    durable_subscriber,
    make_broker,
    publish_event,
)
from services.common.kafka_security import KafkaSecurity
from services.common.runtime import (
    BrokerStarter,
    TaskGroup,
    add_health_routes,
    db_check,
    kafka_ready,
    serve,
    start_monitor,
)
from services.common.settings import dsn, missing_settings_message
from services.router.adapters.store import DecisionStore
from services.router.config import RouterSettings
from services.router.handlers import Decide, DecisionRepository, handle_received
from shared import Decision, OpsEvent, ReferralReceived, ReferralState, Service
from shared.cloudevents import TYPE_DECIDED, TYPE_OPS_EVENT
from shared.topics import OPS_EVENTS, REFERRALS_DECIDED, REFERRALS_RECEIVED

log = structlog.get_logger(__name__)
MIGRATIONS = Path(__file__).parent / "migrations"
GROUP_ID = "router"


def build_decider(settings: RouterSettings) -> Decide:
    """The pure decide function bound to the rules and postcode data in force."""
    from services.router.engine import load_decider

    return load_decider(rules_path=settings.rules_path, postcodes_csv=settings.postcodes_csv)


def _now() -> datetime:
    return datetime.now(UTC)


DECISIONS = Counter(
    "router_decisions_total",
    "Referrals decided, by pathway, provider, priority and rules version (codes only).",
    ["pathway", "provider", "priority", "rules_version"],
)


def decided_ops_event(decision: Decision) -> OpsEvent:
    """The PII-free `ops.events.v1` record of a decision."""
    return OpsEvent(
        event_id=uuid5(NAMESPACE_URL, f"urn:nottssas:decided:{decision.referral_id}"),
        at=decision.decided_at,
        service=Service.ROUTER,
        state=ReferralState.DECIDED,
        referral_id=decision.referral_id,
        pathway=decision.pathway,
        provider=decision.provider,
        priority=decision.priority,
        rules_version=decision.rules_version,
    )


def build_broker(
    bootstrap_servers: str,
    *,
    decide: Decide,
    store: Callable[[], DecisionRepository],
    now: Callable[[], datetime] = _now,
    security: KafkaSecurity | None = None,
) -> KafkaBroker:
    """The broker with the router's subscriber and the dead-letter edge; nothing connects yet.

    `store` is called per message, so the service can hand over its store once the lifespan
    has opened the pool, and a wiring test can hand over a fake.
    """
    broker = make_broker(bootstrap_servers, client_id="router", security=security)
    broker.add_middleware(dead_letter_middleware(Service.ROUTER, lambda: broker))

    async def publish(decision: Decision) -> None:
        key = str(decision.referral_id)
        await publish_event(
            broker,
            decision,
            topic=REFERRALS_DECIDED,
            key=key,
            ce_type=TYPE_DECIDED,
            service=Service.ROUTER,
            event_id=f"decided:{key}",
            at=decision.decided_at,
        )
        # The ops copy: codes only. Its id is derived from the referral, so a republished
        # decision repeats the same ops event rather than adding a second one.
        await publish_event(
            broker,
            decided_ops_event(decision),
            topic=OPS_EVENTS,
            key=key,
            ce_type=TYPE_OPS_EVENT,
            service=Service.ROUTER,
            event_id=f"ops:decided:{key}",
            at=decision.decided_at,
        )

    @durable_subscriber(
        broker,
        REFERRALS_RECEIVED,
        group_id=GROUP_ID,
        title="router/received",
        description="Decides each received referral once and publishes the decision.",
    )
    async def on_received(referral: ReferralReceived) -> None:
        decision, new = await handle_received(
            referral, store=store(), decide=decide, publish=publish, now=now
        )
        if new:
            DECISIONS.labels(
                pathway=decision.pathway.value,
                provider=decision.provider.value if decision.provider else "none",
                priority=decision.priority.value,
                rules_version=decision.rules_version,
            ).inc()
        log.info(
            "referral decided",
            new=new,
            pathway=decision.pathway.value,
            provider=decision.provider.value if decision.provider else None,
            priority=decision.priority.value,
            rules_version=decision.rules_version,
        )

    return broker


@dataclass
class Runtime:
    """What the lifespan opens: the pool (and so the store) and the background tasks."""

    pool: asyncpg.Pool | None = None
    tasks: TaskGroup = field(default_factory=TaskGroup)

    def store(self) -> DecisionStore:
        if self.pool is None:
            raise RuntimeError("router is not started")
        return DecisionStore(self.pool)


def create_app(settings: RouterSettings, decide: Decide | None = None) -> FastAPI:
    """The router's process: the broker above, started in the lifespan, and health routes."""
    rt = Runtime()
    broker = build_broker(
        settings.kafka_bootstrap_servers,
        decide=decide or build_decider(settings),
        store=rt.store,
        security=settings.kafka_security,
    )
    starter = BrokerStarter(broker)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        rt.pool = await create_pool(dsn(settings.database_url))
        await apply_migrations(rt.pool, MIGRATIONS)
        rt.tasks.start("kafka-connect", starter.run())
        start_monitor(rt.tasks, service=Service.ROUTER, settings=settings, starter=starter)
        log.info("router started", port=settings.http_port)
        try:
            yield
        finally:
            await rt.tasks.stop()
            await broker.stop()
            await rt.pool.close()

    app = FastAPI(title="Referral router", version="1.0.0", lifespan=lifespan)
    app.state.runtime = rt
    add_health_routes(
        app,
        lambda: {
            "postgres": db_check(rt.pool),
            "kafka": lambda: kafka_ready(starter),
        },
    )
    return app


def main() -> None:
    """`python -m services.router serve`."""
    try:
        settings = RouterSettings()  # filled from the environment
    except ValidationError as exc:
        sys.exit(missing_settings_message(exc, "ROUTER_"))
    serve("router", settings, lambda: create_app(settings))
