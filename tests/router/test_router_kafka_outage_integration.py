"""A Kafka outage under a running service: a few log lines, not thousands, and recovery.

Rules checked (real broker, stopped and restarted by the project's own script, under the
router as a real process):
- during a 10 s outage the service writes a handful of lines (each kind of the Kafka client's
  complaint once, then a count), where it used to write about a hundred a second;
- once Kafka is back the service is ready again and a referral sent then is decided.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from shared import ReferralReceived
from shared.cloudevents import TYPE_RECEIVED
from shared.topics import REFERRALS_DECIDED, REFERRALS_RECEIVED
from tests.router.conftest import MakeReceived
from tests.support.infra import kafka_script
from tests.support.kafka import cloudevent, collect, produce
from tests.support.processes import ServiceProcess, service
from tests.support.report import report

pytestmark = pytest.mark.integration
OUTAGE_SECONDS = 10
MAX_LINES = 40  # about 1,100 before the Kafka client's repeats were collapsed


@pytest.fixture
def router(stack_env: dict[str, str], tmp_path: Path) -> Iterator[ServiceProcess]:
    try:
        with service("router", stack_env, tmp_path) as process:
            yield process
    finally:
        kafka_script("start")  # whatever happened, the next test finds the broker up


def _lines(process: ServiceProcess) -> int:
    return len(process.log_path.read_bytes().splitlines())


def test_a_kafka_outage_is_a_few_log_lines_and_the_service_recovers(
    router: ServiceProcess, stack_env: dict[str, str], make_received: MakeReceived
) -> None:
    before = _lines(router)
    kafka_script("stop")
    time.sleep(OUTAGE_SECONDS)
    during = _lines(router) - before
    kafka_script("start")
    router.wait_ready("/readyz", timeout=120)
    report(f"kafka-outage: {during} log lines in a {OUTAGE_SECONDS} s outage (limit {MAX_LINES})")

    referral: ReferralReceived = make_received()
    rid = str(referral.referral_id)
    bootstrap = stack_env["KAFKA_BOOTSTRAP_SERVERS"]

    async def send_and_wait() -> list[object]:
        await produce(
            bootstrap,
            REFERRALS_RECEIVED,
            referral.model_dump_json().encode(),
            key=rid,
            headers=cloudevent(TYPE_RECEIVED, subject=rid),
        )
        return list(
            await collect(
                bootstrap,
                REFERRALS_DECIDED,
                lambda r: r.key == rid,
                until=lambda kept: len(kept) >= 1,
                timeout=90,
            )
        )

    assert asyncio.run(send_and_wait()), router.tail()
    assert during <= MAX_LINES, router.tail(60)
