"""Process-level plumbing every service shares: starting the broker, health, task lifetimes.

Rules kept here:
- a service starts and serves HTTP even while Kafka is down: the broker is (re)started in the
  background with backoff, and readiness reports Kafka as not ready until it connects;
- a broker that refuses the service's credentials or whose certificate is not trusted is logged
  as an error naming the settings to check (`kafka_diagnosis`), at every retry;
- the cluster is probed with a bare client (closed whatever happens) before the broker starts,
  so that a Kafka outage at start-up does not leave half-started producers behind (aiokafka
  reports each as "Unclosed AIOKafkaProducer");
- background tasks are cancelled and awaited on shutdown, so nothing is left half-done;
- the self-monitor's alerts are queued on the service's outbox (`ops`, from `startup`), under ids
  derived from the rise they announce (`monitor`);
- `serve` (how every service runs: logging, tracing, uvicorn and its signals) is in
  `services.common.serving`.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from typing import Any

import asyncpg
import structlog
from aiokafka.client import AIOKafkaClient
from fastapi import FastAPI
from fastapi.responses import JSONResponse, PlainTextResponse
from faststream.kafka import KafkaBroker
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest

from services.common.db import ping
from services.common.kafka_diagnosis import diagnose
from services.common.monitor import LagAlarm, Monitor, consumer_groups, kafka_lag_source
from services.common.ops_outbox import BrokerOps, OpsSink, alert_raiser
from services.common.settings import ServiceSettings
from shared import Service

log = structlog.get_logger(__name__)


class BrokerStarter:
    """Starts the broker, retrying with backoff until it connects or is cancelled."""

    def __init__(
        self, broker: KafkaBroker, before_start: Callable[[], Awaitable[None]] | None = None
    ) -> None:
        self.broker = broker
        # Run once Kafka answers and before the broker (and so any consumer) starts: the outbox
        # relay's recovery (`outbox_recovery.at_start`), which must not raise.
        self.before_start = before_start
        self.connected = asyncio.Event()

    async def run(self) -> None:
        delay = 0.5
        while True:
            try:
                await _probe_cluster(self.broker)
                if self.before_start is not None:
                    await self.before_start()
                await self.broker.start()
            except Exception as exc:  # noqa: BLE001 - every connection failure means "try again"
                problem = await diagnose(getattr(self.broker, "_connection_kwargs", {}))
                if problem is not None:  # a wrong password or CA: retrying alone will not help
                    # No traceback: it would only say "Unable to bootstrap"; `problem` says why.
                    log.error("kafka refused this service", problem=problem, delay=delay)  # noqa: TRY400
                else:
                    log.warning(
                        "kafka not reachable yet, retrying", error=type(exc).__name__, delay=delay
                    )
                with contextlib.suppress(Exception):
                    await self.broker.stop()
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10.0)
                continue
            self.connected.set()
            log.info("kafka connected")
            return


# The connection settings the probe shares with the broker's own clients (security included).
_CLIENT_PARAMS = frozenset(inspect.signature(AIOKafkaClient).parameters) - {"loop", "api_version"}


async def _probe_cluster(broker: KafkaBroker) -> None:
    """Fetch the cluster's metadata with a throwaway client; raises if Kafka is unreachable."""
    settings: dict[str, Any] = getattr(broker, "_connection_kwargs", {})
    client = AIOKafkaClient(**{k: v for k, v in settings.items() if k in _CLIENT_PARAMS})
    try:
        await client.bootstrap()
    finally:
        await client.close()


class TaskGroup:
    """Named background tasks, cancelled and awaited together on shutdown."""

    def __init__(self) -> None:
        self._tasks: list[asyncio.Task[Any]] = []

    def start(self, name: str, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        task = asyncio.create_task(coro, name=name)
        task.add_done_callback(_log_crash)
        self._tasks.append(task)
        return task

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()


def _log_crash(task: asyncio.Task[Any]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("background task crashed", task=task.get_name(), error=repr(task.exception()))


async def kafka_ready(starter: BrokerStarter) -> bool:
    if not starter.connected.is_set():
        return False
    try:
        return bool(await starter.broker.ping(timeout=2.0))
    except Exception:  # noqa: BLE001 - any failure to answer is "not ready"
        return False


def add_health_routes(
    app: FastAPI,
    checks: Callable[[], dict[str, Callable[[], Awaitable[bool]]]],
) -> None:
    """`/healthz` (the process answers), `/readyz` (each dependency answers), `/metrics`."""

    @app.get("/healthz", tags=["ops"])
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", tags=["ops"])
    async def readyz() -> JSONResponse:
        results = {name: await check() for name, check in checks().items()}
        ok = all(results.values())
        body = {"status": "ready" if ok else "not_ready", "checks": results}
        return JSONResponse(body, status_code=200 if ok else 503)

    @app.get("/metrics", tags=["ops"], response_class=PlainTextResponse)
    async def metrics() -> PlainTextResponse:
        return PlainTextResponse(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)


def db_check(pool: asyncpg.Pool | None) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        return pool is not None and await ping(pool)

    return check


def start_monitor(
    tasks: TaskGroup,
    *,
    service: Service,
    settings: ServiceSettings,
    starter: BrokerStarter,
    backlog: Callable[[], Awaitable[int]] | None = None,
    groups: Mapping[str, tuple[str, ...]] | None = None,
    ops: OpsSink | None = None,
) -> Monitor:
    """Watch the lag of the broker's own consumer groups (or `groups`: group -> topics), and
    the outbox backlog if given; alerts go to `ops` (the service's outbox), else to the broker."""
    sink: OpsSink = ops if ops is not None else BrokerOps(service, lambda: starter.broker)

    raise_alert = alert_raiser(sink)

    monitor = Monitor(
        service=service,
        lag=kafka_lag_source(
            settings.kafka_bootstrap_servers,
            consumer_groups(starter.broker) if groups is None else groups,
            security=settings.kafka_security,
        ),
        alarm=LagAlarm(threshold=settings.consumer_lag_alert_threshold),
        raise_alert=raise_alert,
        backlog=backlog,
    )
    tasks.start(
        "monitor",
        monitor.run(
            interval_seconds=settings.monitor_interval_seconds, ready=starter.connected.is_set
        ),
    )
    return monitor
