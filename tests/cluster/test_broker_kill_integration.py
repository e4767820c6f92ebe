"""The three-node Kafka cluster (`scripts/kafka_cluster.sh`) loses one broker mid-load.

Rules checked, on the real cluster (KRaft, three broker+controller nodes, replication factor 3,
min.insync.replicas=2), through the project's own publish path (`make_broker`, an acks=all
idempotent producer, and the outbox relay's `kafka_publisher`):
- a broker killed with SIGKILL while messages are in flight (the leader of a partition, so its
  partitions must fail over) costs nothing: every publish is acknowledged, and reading the topic
  back from the beginning finds every message exactly once (none lost, none duplicated by the
  producer's retries to the new leader);
- the two survivors keep accepting acks=all writes (two in-sync replicas is the minimum).
The cluster is started by the script (it FAILS, never skips, when it cannot start) on
KAFKA_CLUSTER_PORT (default 19092) and stopped afterwards; its data stays under DEV_DIR.
Part of the suite (about 70 s on the shared 2-core machine at load 6-8, three more JVMs of
-Xmx384m); `make cluster-test` runs it alone.
"""

from __future__ import annotations

import asyncio
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from uuid import uuid4

import pytest
from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient

from services.common.kafka import make_broker
from services.common.outbox import OutboxMessage, kafka_publisher
from shared.topics import REFERRALS_RECEIVED
from tests.support.infra import ROOT
from tests.support.kafka import connection, tooling

pytestmark = pytest.mark.integration

SCRIPT = ROOT / "scripts" / "kafka_cluster.sh"
MESSAGES = 3000
WAVE = 100  # publishes in flight at once, as a busy relay or service has


def cluster(*args: str, timeout: float = 240) -> str:
    done = subprocess.run(
        ["bash", str(SCRIPT), *args], capture_output=True, text=True, timeout=timeout, check=False
    )
    if done.returncode != 0:
        pytest.fail(
            f"scripts/kafka_cluster.sh {' '.join(args)} failed:\n{done.stdout[-2000:]}\n"
            f"{done.stderr[-4000:]}",
            pytrace=False,
        )
    return done.stdout.strip()


@pytest.fixture(scope="module")
def bootstrap() -> Iterator[str]:
    cluster("start")
    try:
        yield cluster("bootstrap")
    finally:
        cluster("stop")


async def leader_of_partition_0(bootstrap: str, topic: str) -> int:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap.split(","), **connection())
    await admin.start()
    try:
        (described,) = await admin.describe_topics([topic])
    finally:
        await admin.close()
    partitions = {p["partition"]: p for p in described["partitions"]}
    assert len(partitions[0]["replicas"]) == 3, described  # replication factor 3
    return int(partitions[0]["leader"])


async def read_back(bootstrap: str, topic: str, run: str, expected: int) -> Counter[str]:
    """Every `ce_id` of this run on `topic`, counted, reading from the beginning."""
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap.split(","),
        **connection(),
        group_id=f"cluster-test-{uuid4().hex}",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    seen: Counter[str] = Counter()
    deadline = time.monotonic() + 60
    quiet_until: float | None = None
    try:
        while time.monotonic() < deadline:
            for messages in (await consumer.getmany(timeout_ms=500)).values():
                for m in messages:
                    headers = dict(m.headers or ())
                    if headers.get("bench-run", b"").decode() == run:
                        seen[headers["ce_id"].decode()] += 1
            if quiet_until is None and sum(seen.values()) >= expected:
                quiet_until = time.monotonic() + 3  # a little longer: a duplicate would show
            if quiet_until is not None and time.monotonic() >= quiet_until:
                break
    finally:
        await consumer.stop()
    return seen


async def test_a_broker_killed_mid_load_loses_and_duplicates_nothing(bootstrap: str) -> None:
    topic = REFERRALS_RECEIVED
    run = uuid4().hex
    victim = await leader_of_partition_0(bootstrap, topic)
    broker = make_broker(bootstrap, client_id="cluster-test", security=tooling())
    await broker.start()
    publish = kafka_publisher(broker, timeout_seconds=60)
    ids = [str(uuid4()) for _ in range(MESSAGES)]
    kill: asyncio.Task[str] | None = None
    try:
        for start in range(0, MESSAGES, WAVE):
            if start == MESSAGES // 2:  # halfway: kill the leader while the next waves are sent
                kill = asyncio.create_task(asyncio.to_thread(cluster, "kill", str(victim)))
            wave = ids[start : start + WAVE]
            await asyncio.gather(
                *(
                    publish(
                        OutboxMessage(
                            topic=topic,
                            key=event_id,
                            headers={"ce_id": event_id, "bench-run": run},
                            payload=b'{"cluster-test": true}',
                        )
                    )
                    for event_id in wave
                )
            )
    finally:
        await broker.stop()
    assert kill is not None
    await kill
    assert await leader_of_partition_0(bootstrap, topic) != victim  # it did fail over

    seen = await read_back(bootstrap, topic, run, MESSAGES)

    assert set(seen) == set(ids), f"lost {len(set(ids) - set(seen))} of {MESSAGES}"
    assert [i for i, n in seen.items() if n > 1] == []
