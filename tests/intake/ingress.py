"""Helpers of intake's Kafka ingress tests on the real broker: start intake, send a
submission, read what intake answered. Fixtures built on them are in conftest.py."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from uuid import uuid4

import asyncpg
from aiokafka import AIOKafkaProducer

from shared.cloudevents import TYPE_SUBMITTED
from shared.topics import REFERRALS_RECEIVED, REFERRALS_REJECTED, REFERRALS_SUBMITTED
from tests.support.infra import service_env
from tests.support.kafka import Record, cloudevent, collect
from tests.support.processes import ServiceProcess, free_port

AGENCY = "notts-police"  # one of INTAKE_KAFKA_AGENCIES by default
PARTITION = 1


def start_intake(stack_env: dict[str, str], logs: Path) -> ServiceProcess:
    """Intake as a real process on a free port, once ready (Kafka connected, subscribed)."""
    port = free_port()
    env = service_env(stack_env, INTAKE_HTTP_PORT=str(port))
    process = ServiceProcess("intake", ["services.intake", "serve"], env, port, logs).start()
    try:
        process.wait_ready("/readyz", timeout=90)
    except BaseException:
        process.stop()
        raise
    return process


async def send(
    producer: AIOKafkaProducer,
    value: bytes | dict[str, Any],
    *,
    key: str,
    agency: str | None = AGENCY,
    envelope: dict[str, str] | None = None,
    topic: str = REFERRALS_SUBMITTED,
    partition: int | None = PARTITION,
) -> int:
    """Send a submission, by default on `referrals.submitted.v1` (one partition: in order);
    returns its offset."""
    body = json.dumps(value).encode() if isinstance(value, dict) else value
    ce = cloudevent(TYPE_SUBMITTED) if envelope is None else envelope
    headers = [(k, v.encode()) for k, v in ce.items()]
    if agency is not None:
        headers.append(("agency-id", agency.encode()))
    sent = await producer.send_and_wait(
        topic, body, key=key.encode(), partition=partition, headers=headers
    )
    offset: int = sent.offset
    return offset


def fresh(example: dict[str, Any], prefix: str = "KI") -> dict[str, Any]:
    """A copy of `example` under a new submission id."""
    body: dict[str, Any] = json.loads(json.dumps(example))
    body["submission_id"] = f"{prefix}-{uuid4().hex[:12]}"
    return body


async def received(bootstrap: str, submission_ids: set[str], settle: float = 0.0) -> list[Record]:
    """The `referrals.received.v1` records of these submissions (waits for all of them)."""
    return await collect(
        bootstrap,
        REFERRALS_RECEIVED,
        lambda r: r.json()["submission"]["submission_id"] in submission_ids,
        until=lambda kept: (
            {r.json()["submission"]["submission_id"] for r in kept} >= submission_ids
        ),
        timeout=60,
        settle=settle,
    )


async def rejected(bootstrap: str, submission_id: str, settle: float = 1.0) -> list[Record]:
    """The `referrals.rejected.v1` records of this submission (waits for one, then `settle`)."""
    return await collect(
        bootstrap,
        REFERRALS_REJECTED,
        lambda r: bool(r.json()["submission_id"] == submission_id),
        until=lambda kept: len(kept) >= 1,
        timeout=60,
        settle=settle,
    )


@dataclass
class Ingress:
    """What an ingress test uses: the producer, the broker's address, intake's database, the
    example submission; `intake` is running (the fixture `ingress` asks for it)."""

    producer: AIOKafkaProducer
    bootstrap: str
    db: asyncpg.Connection
    example: dict[str, Any]

    def fresh(self, prefix: str = "KI") -> dict[str, Any]:
        return fresh(self.example, prefix)

    async def send(self, value: bytes | dict[str, Any], *, key: str, **how: Any) -> int:
        return await send(self.producer, value, key=key, **how)

    async def received(self, submission_ids: set[str], settle: float = 0.0) -> list[Record]:
        return await received(self.bootstrap, submission_ids, settle)

    async def rejected(self, submission_id: str, settle: float = 1.0) -> list[Record]:
        return await rejected(self.bootstrap, submission_id, settle)

    async def stored(self, submission_id: str) -> int:
        """How many referrals intake stored under this submission id (any agency)."""
        count: int = await self.db.fetchval(
            "SELECT count(*) FROM referrals WHERE submission_id = $1", submission_id
        )
        return count
