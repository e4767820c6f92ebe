"""Intake started while Kafka is unreachable: it keeps trying, and leaves nothing half-open.

Rule checked: each failed attempt to start the broker cleans up after itself, so no
"Unclosed AIOKafkaProducer" is reported however long Kafka stays away (no infrastructure is
needed: the broker address is a loopback port nothing listens on).
"""

from __future__ import annotations

import asyncio
import gc

import pytest

from services.common.startup import ServiceCore
from services.intake.app import create_app
from services.intake.config import IntakeSettings
from tests.support.processes import free_port


async def test_failed_broker_starts_leave_no_unclosed_kafka_producer(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", f"127.0.0.1:{free_port()}")
    monkeypatch.setenv("INTAKE_DATABASE_URL", "postgresql://unused@127.0.0.1:1/unused")
    monkeypatch.setenv("INTAKE_WEB_DRAFT_KEY", "A" * 43)  # required: the web form's draft key
    monkeypatch.setenv("INTAKE_KAFKA_SASL_USERNAME", "intake")  # security is on by default
    monkeypatch.setenv("INTAKE_KAFKA_SASL_PASSWORD", "unused")
    monkeypatch.setenv("PII_KEK_KEYS", "v1:" + "A" * 43)  # required: the personal-data KEK
    monkeypatch.setenv("PII_KEK_PRIMARY", "v1")
    runtime: ServiceCore = create_app(IntakeSettings()).state.runtime
    loop = asyncio.get_running_loop()
    reported: list[str] = []
    previous = loop.get_exception_handler()
    loop.set_exception_handler(lambda _loop, ctx: reported.append(str(ctx.get("message"))))
    try:
        task = asyncio.create_task(runtime.starter.run())
        await asyncio.sleep(2.0)  # several attempts: 0.5 s, then 1 s backoff
        assert not task.done()
        assert not runtime.starter.connected.is_set()
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        gc.collect()
        await asyncio.sleep(0)
    finally:
        loop.set_exception_handler(previous)
    assert [m for m in reported if "Unclosed" in m] == []
