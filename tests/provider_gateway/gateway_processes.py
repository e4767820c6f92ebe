"""The gateway and the demo receiver as real processes, fed through the real Kafka broker.

`Processes` starts `python -m services.demo_receiver` and `python -m services.provider_gateway
serve` on free ports with the stack's environment (plus overrides), points every provider's
webhook at that receiver, and stops both (or whatever is left of them) at the end. Referrals
are published as intake and the router would: both halves, CloudEvents headers, keyed by
referral id. Receiver counts are read for this test's referrals only, since the gateway's
database may still hold other runs' deliveries.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import httpx
from aiokafka import AIOKafkaProducer

from services.common.kafka import source_uri
from shared import Service, ce_headers
from shared.cloudevents import TYPE_DECIDED, TYPE_RECEIVED
from shared.topics import REFERRALS_DECIDED, REFERRALS_RECEIVED
from tests.provider_gateway.gateway_harness import rows
from tests.provider_gateway.gateway_samples import decision_for, received_event
from tests.support.cli import cli_output
from tests.support.infra import service_env
from tests.support.kafka import connection
from tests.support.processes import ServiceProcess, free_port
from tests.support.wait import eventually

PROVIDERS = ("nwa", "juno", "equation")
RESET_ENDPOINTS = (
    "UPDATE endpoints SET disabled_at = NULL, reason_code = NULL, breaker_state = 'closed',"
    " breaker_failures = 0, breaker_probe_at = NULL"
)


@dataclass
class Processes:
    receiver: ServiceProcess
    gateway: ServiceProcess
    dsn: str
    bootstrap: str
    keys: dict[str, str]

    def control(self, provider: str, **wanted: Any) -> None:
        httpx.post(
            f"{self.receiver.url}/control/{provider}", json=wanted, timeout=5
        ).raise_for_status()

    def control_all(self, **wanted: Any) -> None:
        for provider in PROVIDERS:
            self.control(provider, **wanted)

    def received(self, referral_ids: Iterable[UUID]) -> dict[str, dict[str, Any]]:
        """This test's deliveries at the receiver, by referral id (one entry per webhook-id)."""
        ours = {str(r) for r in referral_ids}
        got = httpx.get(f"{self.receiver.url}/received", timeout=5).json()
        return {d["referral_id"]: d for d in got["deliveries"] if d["referral_id"] in ours}

    def wait_received(
        self, referral_ids: Iterable[UUID], *, at_least: int, timeout: float = 90.0
    ) -> dict[str, dict[str, Any]]:
        ids = list(referral_ids)
        found: dict[str, dict[str, Any]] = {}

        def enough() -> dict[str, dict[str, Any]] | None:
            nonlocal found
            found = self.received(ids)
            return found if len(found) >= at_least else None

        return eventually(
            enough,
            f"{at_least} referrals at the receiver",
            timeout=timeout,
            interval=0.1,
            last=lambda: f"{len(found)} arrived\ngateway log:\n{self.gateway.tail()}",
        )


async def webhook_deliveries(dsn: str, referral_ids: Iterable[UUID]) -> dict[str, dict[str, Any]]:
    """The gateway's webhook delivery rows of these referrals, by referral id."""
    found = await rows(
        dsn,
        "SELECT a.referral_id, d.state, d.attempts FROM deliveries d"
        " JOIN assignments a USING (assignment_id)"
        " WHERE d.channel = 'webhook' AND a.referral_id = ANY($1::uuid[])",
        list(referral_ids),
    )
    return {str(r["referral_id"]): r for r in found}


async def publish_referrals(bootstrap: str, count: int) -> list[UUID]:
    """Publish `count` referrals (both halves, in alternating order); returns their ids."""
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, acks="all", enable_idempotence=True, **connection()
    )
    await producer.start()
    ids = []
    try:
        for n in range(count):
            rid = uuid4()
            ids.append(rid)
            now = datetime.now(UTC)
            halves = [
                (REFERRALS_RECEIVED, TYPE_RECEIVED, Service.INTAKE, received_event(rid, now)),
                (
                    REFERRALS_DECIDED,
                    TYPE_DECIDED,
                    Service.ROUTER,
                    decision_for(rid, PROVIDERS[n % len(PROVIDERS)], at=now),
                ),
            ]
            for topic, ce_type, service, event in halves if n % 2 else reversed(halves):
                headers = ce_headers(
                    type=ce_type, source=source_uri(service), time=now, subject=str(rid)
                )
                await producer.send_and_wait(
                    topic,
                    event.model_dump_json().encode(),
                    key=str(rid).encode(),
                    headers=[(k, v.encode()) for k, v in headers.items()],
                )
    finally:
        await producer.stop()
    return ids


@contextmanager
def processes(stack: dict[str, str], workdir: Path, **gateway_env: str) -> Iterator[Processes]:
    """The receiver and the gateway running; the gateway with `gateway_env` overrides."""
    receiver_port, gateway_port = free_port(), free_port()
    hooks = {
        f"GATEWAY_{p.upper()}_WEBHOOK_URL": f"http://127.0.0.1:{receiver_port}/webhooks/{p}"
        for p in PROVIDERS
    }
    env = service_env(stack, GATEWAY_HTTP_PORT=str(gateway_port), **hooks, **gateway_env)
    receiver = ServiceProcess(
        "receiver",
        ["services.demo_receiver", "--port", str(receiver_port)],
        env,
        receiver_port,
        workdir,
    )
    gateway = ServiceProcess(
        "gateway", ["services.provider_gateway", "serve"], env, gateway_port, workdir
    )
    started = Processes(
        receiver=receiver,
        gateway=gateway,
        dsn=stack["GATEWAY_DATABASE_URL"],
        bootstrap=stack["KAFKA_BOOTSTRAP_SERVERS"],
        keys={p: stack[f"PROVIDER_API_KEY_{p.upper()}"] for p in PROVIDERS},
    )
    # The schema exists and every endpoint is enabled with a closed breaker (another test may
    # have left one disabled or open).
    cli_output("services.provider_gateway", "migrate", env=env, timeout=60)
    asyncio.run(rows(started.dsn, RESET_ENDPOINTS))
    try:
        receiver.start().wait_ready("/healthz", timeout=30)
        yield started
    finally:
        gateway.stop()
        receiver.stop()
