"""The one place the gateway is wired: policies, clock, jitter, broker, stores, HTTP client, loops.

`build_context` and the subscribers need no database (the wiring test hands them fakes);
`bootstrap` adds the service's core (pool, migrations, broker starter, tasks, the outbox relay:
`services.common.startup`) and binds the subscribers and the provider API to the PostgreSQL
stores the lifespan opens. What is the gateway's own (the HTTP client the webhooks go out on,
the unsealing opener, the delivery workers, the deadline and half-missing checkers, the queue
gauge) starts in `Gateway.running`, the lifespan's `extra`, after the core and before the
monitor, and stops after the consumers and the outbox drain. Nothing connects here.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from uuid import UUID

from services.common.kafka import dead_letter_middleware, dead_letterer, make_broker
from services.common.loops import listen, run_loop
from services.common.ops_outbox import OutboxOps
from services.common.sealing import EnvKek
from services.common.startup import RelayOptions, ServiceCore
from services.provider_gateway.adapters import metrics
from services.provider_gateway.adapters.channels import KafkaSender, WebhookSender
from services.provider_gateway.adapters.delivery_store import DeliveryStore
from services.provider_gateway.adapters.erasure_store import ErasureStore
from services.provider_gateway.adapters.outbox import OUTBOX
from services.provider_gateway.adapters.referral_batch import ReferralBatches
from services.provider_gateway.adapters.referral_store import DELIVERY_CHANNEL, ReferralStore
from services.provider_gateway.adapters.unsealing import VaultOpener
from services.provider_gateway.adapters.webhook_client import webhook_session
from services.provider_gateway.config import GatewaySettings
from services.provider_gateway.handlers import Context, check_half_missing, check_overdue
from services.provider_gateway.handlers.worker import DeliveryWorker
from services.provider_gateway.ports import Sender
from services.provider_gateway.subscribers import (
    register_erasure_subscriber,
    register_subscribers,
)
from shared import Assignment, Service

MIGRATIONS = Path(__file__).parent / "migrations"
# Ops events, alerts, dead letters and echoed answers, all keyed by referral id (alerts about an
# endpoint by none): one referral's events must reach their consumers in the order they were
# committed (assigned before delivered, an answer's echo after it), so each key's rows go in
# order; different referrals' rows go concurrently (one batch, one round of acks).
RELAY = RelayOptions(OUTBOX, per_key=True)
DELIVERY_WORKERS = 2
QUEUE_GAUGE_SECONDS = 5.0

# Jitter needs no cryptographic strength; SystemRandom just needs no seeding.
JITTER = random.SystemRandom()


def utc_now() -> datetime:
    return datetime.now(UTC)


def build_context(settings: GatewaySettings, clock: Callable[[], datetime]) -> Context:
    """What the referral handlers need: the SLA, each provider's channels, the clock."""
    return Context(
        sla=settings.sla_policy(),
        now=clock,
        channels={p: ch.names for p, ch in settings.providers.items()},
    )


@dataclass
class Gateway:
    """The gateway wired on its core: its stores, and what its lifespan adds (`running`)."""

    core: ServiceCore
    settings: GatewaySettings
    ctx: Context
    kek: EnvKek
    rng: Callable[[], float]
    opener: VaultOpener | None = None

    @property
    def referrals(self) -> ReferralStore:
        return ReferralStore(self.core.db)

    @property
    def erasures(self) -> ErasureStore:
        return ErasureStore(self.core.db)

    async def open_for_provider(self, referral_id: UUID, assignment: Assignment) -> Assignment:
        """The assignment with its referral unsealed for its provider (the API's `Opener`)."""
        if self.opener is None:
            raise RuntimeError("the gateway is not started")
        return await self.opener(referral_id, assignment)

    @asynccontextmanager
    async def running(self, core: ServiceCore) -> AsyncIterator[None]:
        """The lifespan's `extra`: the HTTP client, the delivery workers and the checkers."""
        settings, clock = self.settings, self.ctx.now
        self.opener = VaultOpener(core.db, self.kek)
        async with webhook_session(
            connect_timeout=settings.connect_timeout_seconds,
            read_timeout=settings.read_timeout_seconds,
        ) as session:
            senders: dict[str, Sender] = {
                "webhook": WebhookSender(
                    session, settings.providers, clock=clock, opener=self.opener
                ),
                "kafka": KafkaSender(core.broker),
            }
            self._start_workers(core, senders)
            self._start_checkers(core)
            yield

    def _start_workers(self, core: ServiceCore, senders: dict[str, Sender]) -> None:
        settings, wake = self.settings, asyncio.Event()
        core.tasks.start("notify-listener", listen(core.db, {DELIVERY_CHANNEL: wake}))
        for n in range(DELIVERY_WORKERS):
            worker = DeliveryWorker(
                DeliveryStore(core.db),
                senders,
                settings.retry_policy(),
                now=self.ctx.now,
                rng=self.rng,
                webhook_providers=[
                    p.value for p, ch in settings.providers.items() if ch.webhook_url
                ],
                kafka_ready=core.starter.connected.is_set,
                batch_size=settings.delivery_batch_size,
                lease=timedelta(seconds=settings.delivery_lease_seconds),
                breaker=settings.breaker_policy(),
            )
            loop = run_loop(
                f"delivery-{n}", worker.step, idle_seconds=settings.delivery_poll_seconds, wake=wake
            )
            core.tasks.start(f"delivery-{n}", loop)

    def _start_checkers(self, core: ServiceCore) -> None:
        """The periodic loops: acceptance deadlines, referrals missing a half, queue gauges."""
        ctx, deliveries = self.ctx, DeliveryStore(core.db)

        async def overdue_step() -> int:
            done = 0
            for referral_id in await self.referrals.overdue(ctx.now()):
                async with self.referrals.referral(referral_id) as tx:
                    done += await check_overdue(tx, ctx)
            return done

        async def half_missing_step() -> int:
            done = 0
            since = ctx.now() - timedelta(seconds=self.settings.half_missing_after_seconds)
            for referral_id in await self.referrals.halves_waiting(since):
                async with self.referrals.referral(referral_id) as tx:
                    done += await check_half_missing(tx, referral_id, ctx)
            return done

        async def queue_gauge_step() -> int:
            metrics.set_queue(await deliveries.queue_depth())
            for provider, state in (await deliveries.breakers()).items():
                metrics.set_breaker(provider, state)
            return 0

        every = self.settings.sla_check_seconds
        for name, step, idle in (
            ("sla-checker", overdue_step, every),
            ("half-missing-checker", half_missing_step, every),
            ("queue-gauge", queue_gauge_step, QUEUE_GAUGE_SECONDS),
        ):
            core.tasks.start(name, run_loop(name, step, idle_seconds=idle))


def bootstrap(
    settings: GatewaySettings,
    *,
    clock: Callable[[], datetime] = utc_now,
    rng: Callable[[], float] = JITTER.random,
) -> Gateway:
    """The gateway, wired: its core (opened by the lifespan) and its subscribers bound to it."""
    settings.check()
    broker = make_broker(
        settings.kafka_bootstrap_servers,
        client_id="provider-gateway",
        security=settings.kafka_security,
    )
    core = ServiceCore(
        Service.PROVIDER_GATEWAY, settings, settings.database_url, MIGRATIONS, broker
    )
    kek = EnvKek.parse(settings.pii_kek_keys.get_secret_value(), settings.pii_kek_primary)
    gateway = Gateway(core, settings, build_context(settings, clock), kek, rng)
    # Dead letters and their alerts go through the gateway's outbox (the relay publishes them).
    ops = OutboxOps(Service.PROVIDER_GATEWAY, lambda: core.db, OUTBOX)
    letters = dead_letterer(Service.PROVIDER_GATEWAY, lambda: broker, ops=ops)
    broker.add_middleware(
        dead_letter_middleware(Service.PROVIDER_GATEWAY, lambda: broker, dead_letter=letters)
    )
    register_subscribers(
        broker,
        lambda: gateway.referrals,
        gateway.ctx,
        batches=lambda: ReferralBatches(gateway.core.db),
        dead_letter=letters,
    )
    register_erasure_subscriber(broker, lambda: gateway.erasures, clock, dead_letter=letters)
    return gateway
