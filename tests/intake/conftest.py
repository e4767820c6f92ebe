"""Fixtures only intake's tests use: the example submission as a model, and for the Kafka
ingress tests a real intake process, a producer and a database connection."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import asyncpg
import pytest
from aiokafka import AIOKafkaProducer

from services.intake.bootstrap import MIGRATIONS
from shared import ReferralSubmission
from tests.intake.ingress import Ingress, start_intake
from tests.support.infra import migrated_pool
from tests.support.kafka import connection
from tests.support.processes import ServiceProcess


@pytest.fixture
def submission(example_submission: dict[str, Any]) -> ReferralSubmission:
    """The contract's example submission, validated."""
    return ReferralSubmission.model_validate(example_submission)


@pytest.fixture(scope="module")
def intake(
    stack_env: dict[str, str],
    tmp_path_factory: pytest.TempPathFactory,
    request: pytest.FixtureRequest,
) -> Iterator[ServiceProcess]:
    """Intake as a real process for the module's tests, ready (Kafka connected, subscribed)."""
    process = start_intake(
        stack_env, tmp_path_factory.mktemp(request.module.__name__.split(".")[-1])
    )
    try:
        yield process
    finally:
        process.stop()


@pytest.fixture(scope="module")
async def producer(stack_env: dict[str, str]) -> AsyncIterator[AIOKafkaProducer]:
    """An idempotent producer on the real broker, as the tooling principal."""
    kafka = AIOKafkaProducer(
        bootstrap_servers=stack_env["KAFKA_BOOTSTRAP_SERVERS"],
        acks="all",
        enable_idempotence=True,
        **connection(),
    )
    await kafka.start()
    try:
        yield kafka
    finally:
        await kafka.stop()


@pytest.fixture
async def db(stack_env: dict[str, str]) -> AsyncIterator[asyncpg.Connection]:
    """A connection to intake's database."""
    conn = await asyncpg.connect(stack_env["INTAKE_DATABASE_URL"])
    try:
        yield conn
    finally:
        await conn.close()


@pytest.fixture
def ingress(
    intake: ServiceProcess,
    producer: AIOKafkaProducer,
    db: asyncpg.Connection,
    stack_env: dict[str, str],
    example_submission: dict[str, Any],
) -> Ingress:
    """A running intake and what a Kafka ingress test sends and reads with."""
    return Ingress(producer, stack_env["KAFKA_BOOTSTRAP_SERVERS"], db, example_submission)


@pytest.fixture
async def pool(stack_env: dict[str, str]) -> AsyncIterator[asyncpg.Pool]:
    """A pool on intake's database, its migrations applied."""
    async with migrated_pool(stack_env["INTAKE_DATABASE_URL"], MIGRATIONS, max_size=4) as pool:
        yield pool
