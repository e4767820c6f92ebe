"""The start-up skeleton every service shares: the core it opens, its lifespan, its health routes.

Rules kept here:
- nothing connects until the lifespan starts: then the pool is opened and the service's
  migrations applied, the broker is started in the background (the service serves HTTP while
  Kafka is down, see `runtime.BrokerStarter`; once Kafka answers, and before the broker and its
  consumers start, the outbox relay's recovery marks sent what a killed predecessor had already
  published, `outbox_recovery`), the outbox relay runs if the service has one,
  the service's own start-up runs (`extra`: its loops, clients), and the self-monitor watches
  lag and outbox backlog (its alerts queued on the relay's outbox table, `ops_outbox`);
- shutdown runs in the reverse order, consumers first: the subscribers stop (the message in
  hand finishes and its offset is committed), then the outbox relay is given up to
  `drain_seconds` to publish what they committed (a graceful stop leaves nothing waiting in the
  table; a failed or slow drain only leaves rows for the next start, never loses them), then
  the background tasks are cancelled, the producer flushed and stopped, the service's own
  resources closed, and the pool closed last;
- `/healthz`, `/readyz` (PostgreSQL and Kafka) and `/metrics` on every service.

Every service uses it: each builds its `ServiceCore` in its `bootstrap.py` and passes its relay
options; what is its own runs as `prepare` (before the broker starts: intake's sealer) or `extra`
(beside the consumers: intake's retention loop; the gateway's HTTP client, delivery workers and
checkers).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import asyncpg
import structlog
from fastapi import FastAPI
from faststream.kafka import KafkaBroker
from pydantic import SecretStr

from services.common.db import apply_migrations, create_pool
from services.common.ops_outbox import OutboxOps
from services.common.outbox import OutboxTable, kafka_publisher
from services.common.outbox_recovery import at_start, kafka_finder, recover
from services.common.outbox_relay import OutboxRelay
from services.common.runtime import (
    BrokerStarter,
    TaskGroup,
    add_health_routes,
    db_check,
    kafka_ready,
    start_monitor,
)
from services.common.settings import ServiceSettings, dsn
from shared import Service

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class RelayOptions:
    """How a service's outbox relay runs (see `services.common.outbox_relay.OutboxRelay`)."""

    table: OutboxTable
    batch_size: int = 200
    concurrent: bool = False
    publish_timeout_seconds: float = 10.0
    idle_poll_seconds: float = 2.0
    per_key: bool = False  # in order per (topic, key) only (see OutboxRelay)


@dataclass
class ServiceCore:
    """What every service's lifespan opens, and its subscribers, routes and loops use."""

    service: Service
    settings: ServiceSettings
    database_url: SecretStr
    migrations: Path
    broker: KafkaBroker
    starter: BrokerStarter = field(init=False)
    pool: asyncpg.Pool | None = None
    relay: OutboxRelay | None = None
    tasks: TaskGroup = field(default_factory=TaskGroup)

    def __post_init__(self) -> None:
        self.starter = BrokerStarter(self.broker)

    @property
    def db(self) -> asyncpg.Pool:
        """The pool, once the lifespan has opened it."""
        if self.pool is None:
            raise RuntimeError(f"{self.service.value} is not started")
        return self.pool


Extra = Callable[[ServiceCore], AbstractAsyncContextManager[None]]
# The service's own start-up that must finish before the broker starts (its subscribers may
# need it: intake's sealer, which loads the postcode directory).
Prepare = Callable[[ServiceCore], Awaitable[None]]


def service_lifespan(
    core: ServiceCore,
    *,
    relay: RelayOptions | None = None,
    extra: Extra | None = None,
    drain_seconds: float = 5.0,
    prepare: Prepare | None = None,
) -> Callable[[FastAPI], AbstractAsyncContextManager[None]]:
    """The lifespan of a service built on `core` (see the module's rules for the order)."""

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        core.pool = pool = await create_pool(dsn(core.database_url))
        try:
            await apply_migrations(pool, core.migrations)
            if prepare is not None:
                await prepare(core)
            if relay is not None:
                core.starter.before_start = _recovery(core, relay.table)
            core.tasks.start("kafka-connect", core.starter.run())
            if relay is not None:
                core.relay = _start_relay(core, relay)
            async with AsyncExitStack() as resources:
                if extra is not None:
                    await resources.enter_async_context(extra(core))
                start_monitor(
                    core.tasks,
                    service=core.service,
                    settings=core.settings,
                    starter=core.starter,
                    backlog=core.relay.backlog if core.relay else None,
                    ops=OutboxOps(core.service, lambda: core.db, relay.table) if relay else None,
                )
                log.info(f"{core.service.value} started", port=core.settings.http_port)
                try:
                    yield
                finally:
                    await _stop(core, drain_seconds)
        finally:
            await pool.close()

    return lifespan


def _recovery(core: ServiceCore, table: OutboxTable) -> Callable[[], Awaitable[None]]:
    """The outbox relay's recovery, once Kafka answers and before the broker starts."""
    settings = core.settings
    find = kafka_finder(settings.kafka_bootstrap_servers, security=settings.kafka_security)
    return at_start(partial(recover, core.db, table, find))


def _start_relay(core: ServiceCore, options: RelayOptions) -> OutboxRelay:
    relay = OutboxRelay(
        core.db,
        options.table,
        kafka_publisher(core.broker),
        batch_size=options.batch_size,
        concurrent=options.concurrent,
        publish_timeout_seconds=options.publish_timeout_seconds,
        per_key=options.per_key,
    )
    core.tasks.start(
        "outbox-relay",
        relay.run(ready=core.starter.connected.is_set, idle_poll_seconds=options.idle_poll_seconds),
    )
    return relay


async def _stop(core: ServiceCore, drain_seconds: float) -> None:
    # Consumers first: each finishes the message in hand and commits its offset.
    await asyncio.gather(*(sub.stop() for sub in core.broker.subscribers), return_exceptions=True)
    await _drain(core, drain_seconds)
    await core.tasks.stop()
    await core.broker.stop()


_DRAIN_POLL_SECONDS = 0.05


async def _drain(core: ServiceCore, seconds: float) -> None:
    """Wait (at most `seconds`) for the running relay to publish what is committed."""
    if core.relay is None or not core.starter.connected.is_set():
        return
    # The relay keeps running (woken by NOTIFY); waiting for an empty table rather than draining
    # here means no batch is ever cut off half-acknowledged, which would publish it twice.
    try:
        for _ in range(max(1, round(seconds / _DRAIN_POLL_SECONDS))):
            if not await core.relay.backlog():
                return
            await asyncio.sleep(_DRAIN_POLL_SECONDS)
    except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
        log.warning("outbox not drained at shutdown", error=type(exc).__name__)


def service_app(
    core: ServiceCore,
    lifespan: Callable[[FastAPI], AbstractAsyncContextManager[None]],
    *,
    title: str,
    description: str | None = None,
) -> FastAPI:
    """The service's FastAPI app with its lifespan and health routes; `state.runtime` is `core`."""
    app = FastAPI(title=title, version="1.0.0", description=description or "", lifespan=lifespan)
    app.state.runtime = core
    add_health_routes(
        app,
        lambda: {"postgres": db_check(core.pool), "kafka": lambda: kafka_ready(core.starter)},
    )
    return app
