"""The provider gateway's process: subscribers, the HTTP callback, and the background loops.

HTTP:  GET /v1/assignments/{referral_id}, POST /v1/assignments/{referral_id}/response,
       /healthz, /readyz, /metrics.
Kafka: `referrals.received.v1` + `referrals.decided.v1` -> assignments;
       `assignments.responses.v1` -> answers, re-routing;
       `ops.events.v1` (intake's `erased`) -> the referral's details forgotten (`erasure.py`).
Loops: delivery workers (webhook and `assignments.<provider>.v1`), the outbox relay (ops
       events, alerts, dead letters), the acceptance-deadline checker, the half-missing checker
       (a decision or a referral still waiting for its other half), the queue-depth gauge, a
       NOTIFY listener.
Nothing connects at import time: the pool, the HTTP client and the broker start in the lifespan.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from uuid import UUID

import asyncpg
import httpx
import structlog
from fastapi import FastAPI
from faststream.kafka import KafkaBroker

from services.common.db import apply_migrations, create_pool
from services.common.kafka import dead_letter_middleware, make_broker
from services.common.loops import listen, run_loop
from services.common.outbox import OutboxRelay, kafka_publisher
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
from services.provider_gateway import metrics
from services.provider_gateway.adapters.channels import KafkaSender, WebhookSender
from services.provider_gateway.adapters.delivery_store import DeliveryStore
from services.provider_gateway.adapters.erasure_store import ErasureStore
from services.provider_gateway.adapters.outbox import OUTBOX, OUTBOX_CHANNEL
from services.provider_gateway.adapters.referral_store import DELIVERY_CHANNEL, ReferralStore
from services.provider_gateway.adapters.unsealing import VaultOpener
from services.provider_gateway.api import add_provider_api
from services.provider_gateway.config import GatewaySettings
from services.provider_gateway.delivery import DeliveryWorker
from services.provider_gateway.erasure import register_erasure_subscriber
from services.provider_gateway.handlers import Context, check_half_missing, check_overdue
from services.provider_gateway.ports import Sender
from services.provider_gateway.subscribers import register_subscribers
from shared import Assignment, Service

log = structlog.get_logger(__name__)
MIGRATIONS = Path(__file__).parent / "migrations"
DELIVERY_WORKERS = 2
QUEUE_GAUGE_SECONDS = 5.0


# Jitter needs no cryptographic strength; SystemRandom just needs no seeding.
_JITTER = random.SystemRandom()


def _utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class Runtime:
    """What the lifespan builds and the routes, subscribers and loops use."""

    settings: GatewaySettings
    broker: KafkaBroker
    starter: BrokerStarter
    ctx: Context
    pool: asyncpg.Pool | None = None
    opener: VaultOpener | None = None
    tasks: TaskGroup = field(default_factory=TaskGroup)

    @property
    def referrals(self) -> ReferralStore:
        if self.pool is None:
            raise RuntimeError("the gateway is not started")
        return ReferralStore(self.pool)

    @property
    def erasures(self) -> ErasureStore:
        if self.pool is None:
            raise RuntimeError("the gateway is not started")
        return ErasureStore(self.pool)


def _start_checkers(rt: Runtime, deliveries: DeliveryStore, clock: Callable[[], datetime]) -> None:
    """The periodic loops: acceptance deadlines, referrals missing a half, the queue gauges."""
    settings, ctx = rt.settings, rt.ctx

    async def overdue_step() -> int:
        done = 0
        for referral_id in await rt.referrals.overdue(clock()):
            async with rt.referrals.referral(referral_id) as tx:
                done += await check_overdue(tx, ctx)
        return done

    async def half_missing_step() -> int:
        done = 0
        since = clock() - timedelta(seconds=settings.half_missing_after_seconds)
        for referral_id in await rt.referrals.halves_waiting(since):
            async with rt.referrals.referral(referral_id) as tx:
                done += await check_half_missing(tx, referral_id, ctx)
        return done

    async def queue_gauge_step() -> int:
        metrics.set_queue(await deliveries.queue_depth())
        for provider, state in (await deliveries.breakers()).items():
            metrics.set_breaker(provider, state)
        return 0

    every = settings.sla_check_seconds
    rt.tasks.start("sla-checker", run_loop("sla-checker", overdue_step, idle_seconds=every))
    rt.tasks.start(
        "half-missing-checker",
        run_loop("half-missing-checker", half_missing_step, idle_seconds=every),
    )
    rt.tasks.start(
        "queue-gauge",
        run_loop("queue-gauge", queue_gauge_step, idle_seconds=QUEUE_GAUGE_SECONDS),
    )


def create_app(
    settings: GatewaySettings,
    *,
    clock: Callable[[], datetime] = _utc_now,
    rng: Callable[[], float] = _JITTER.random,
    http_transport: httpx.AsyncBaseTransport | None = None,
) -> FastAPI:
    settings.check()
    broker = make_broker(
        settings.kafka_bootstrap_servers,
        client_id="provider-gateway",
        security=settings.kafka_security,
    )
    providers = settings.providers
    ctx = Context(
        sla=settings.sla_policy(),
        now=clock,
        channels={p: ch.names for p, ch in providers.items()},
    )
    rt = Runtime(settings=settings, broker=broker, starter=BrokerStarter(broker), ctx=ctx)
    broker.add_middleware(dead_letter_middleware(Service.PROVIDER_GATEWAY, lambda: broker))
    register_subscribers(broker, lambda: rt.referrals, ctx)
    register_erasure_subscriber(broker, lambda: rt.erasures, clock)
    kek = EnvKek.parse(settings.pii_kek_keys.get_secret_value(), settings.pii_kek_primary)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        rt.pool = pool = await create_pool(dsn(settings.database_url))
        await apply_migrations(pool, MIGRATIONS)
        rt.opener = opener = VaultOpener(pool, kek)
        timeout = httpx.Timeout(
            settings.read_timeout_seconds, connect=settings.connect_timeout_seconds
        )
        client = httpx.AsyncClient(
            timeout=timeout, transport=http_transport, follow_redirects=False
        )
        senders: dict[str, Sender] = {
            "webhook": WebhookSender(client, providers, clock=clock, opener=opener),
            "kafka": KafkaSender(broker),
        }
        deliveries = DeliveryStore(pool)
        wake = {DELIVERY_CHANNEL: asyncio.Event(), OUTBOX_CHANNEL: asyncio.Event()}
        relay = OutboxRelay(pool, OUTBOX, kafka_publisher(broker))

        async def relay_step() -> int:
            return await relay.drain_once() if rt.starter.connected.is_set() else 0

        rt.tasks.start("kafka-connect", rt.starter.run())
        rt.tasks.start("notify-listener", listen(pool, wake))
        rt.tasks.start(
            "outbox-relay",
            run_loop("outbox-relay", relay_step, idle_seconds=2.0, wake=wake[OUTBOX_CHANNEL]),
        )
        for n in range(DELIVERY_WORKERS):
            worker = DeliveryWorker(
                deliveries,
                senders,
                settings.retry_policy(),
                now=clock,
                rng=rng,
                webhook_providers=[p.value for p, ch in providers.items() if ch.webhook_url],
                kafka_ready=rt.starter.connected.is_set,
                batch_size=settings.delivery_batch_size,
                lease=timedelta(seconds=settings.delivery_lease_seconds),
                breaker=settings.breaker_policy(),
            )
            rt.tasks.start(
                f"delivery-{n}",
                run_loop(
                    f"delivery-{n}",
                    worker.step,
                    idle_seconds=settings.delivery_poll_seconds,
                    wake=wake[DELIVERY_CHANNEL],
                ),
            )
        _start_checkers(rt, deliveries, clock)
        start_monitor(
            rt.tasks,
            service=Service.PROVIDER_GATEWAY,
            settings=settings,
            starter=rt.starter,
            backlog=relay.backlog,
        )
        log.info("provider gateway started", port=settings.http_port)
        try:
            yield
        finally:
            await rt.tasks.stop()
            await broker.stop()
            await client.aclose()
            await pool.close()

    app = FastAPI(
        title="Provider gateway",
        version="1.0.0",
        description="Delivers referral assignments to providers and takes their answers.",
        lifespan=lifespan,
    )
    app.state.runtime = rt
    add_health_routes(
        app,
        lambda: {
            "postgres": db_check(rt.pool),
            "kafka": lambda: kafka_ready(rt.starter),
        },
    )
    keys = {p: ch.api_key for p, ch in providers.items()}

    async def open_for_provider(referral_id: UUID, assignment: Assignment) -> Assignment:
        if rt.opener is None:
            raise RuntimeError("the gateway is not started")
        return await rt.opener(referral_id, assignment)

    add_provider_api(
        app,
        keys,
        lambda: rt.referrals,
        ctx,
        max_body_bytes=settings.max_body_bytes,
        fetches=lambda: rt.erasures,
        opener=open_for_provider,
    )
    return app
