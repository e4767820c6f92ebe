"""The router's batches as a real process on the real Kafka broker and PostgreSQL.

Rules shown here (subscribers.py, handlers.handle_batch, adapters/store.DecisionStore.batch):
- a backlog waiting for the router is taken as one batch: the one record of it that is not a
  valid ReferralReceived is dead-lettered with its reason, exactly once, and every other referral
  of the batch is decided once (one decision row, one decided event, its two outbox rows sent);
- the same batch consumed again (the router killed after its commit and before its offset
  commit, simulated by rewinding the group's offsets while it is stopped) makes no second
  decision and no new event id: the decisions are recalled, the outbox gains no row, and each
  referral still has one decided event on `referrals.decided.v1`.

The router's consumer group is fixed (`router`); these tests need a stack nobody else consumes
from (see DEV_DIR in tests/support/infra.py). They fail, never skip, without Kafka and PostgreSQL.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import asyncpg
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from services.common.edge import digest
from services.router.subscribers import GROUP_ID
from shared import ReferralReceived, ce_headers
from shared.cloudevents import TYPE_DECIDED, TYPE_RECEIVED
from shared.topics import OPS_DEADLETTER, REFERRALS_DECIDED, REFERRALS_RECEIVED
from tests.router.conftest import MakeReceived
from tests.support.infra import service_env
from tests.support.kafka import Record, cloudevent, collect, connection
from tests.support.processes import ServiceProcess, free_port

pytestmark = pytest.mark.integration

GOOD = 20


@pytest.fixture(scope="module")
def router(
    stack_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServiceProcess]:
    port = free_port()
    workdir: Path = tmp_path_factory.mktemp("router-batch")
    process = ServiceProcess(
        "router",
        ["services.router", "serve"],
        service_env(stack_env, ROUTER_HTTP_PORT=str(port)),
        port,
        workdir,
    )
    process.start().wait_ready("/readyz", timeout=90)
    try:
        yield process
    finally:
        process.stop()


Sent = dict[TopicPartition, int]  # the first offset sent to each partition


async def _send(bootstrap: str, records: list[tuple[str, bytes, dict[str, str]]]) -> Sent:
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, acks="all", enable_idempotence=True, **connection()
    )
    await producer.start()
    try:
        futures = [
            await producer.send(
                REFERRALS_RECEIVED,
                value,
                key=key.encode(),
                headers=[(k, v.encode()) for k, v in headers.items()],
            )
            for key, value, headers in records
        ]
        sent: Sent = {}
        for future in futures:
            meta = await future
            tp = TopicPartition(meta.topic, meta.partition)
            sent[tp] = min(sent.get(tp, meta.offset), meta.offset)
        return sent
    finally:
        await producer.stop()


async def _commit(bootstrap: str, offsets: Sent | None = None) -> None:
    """Commit the router group's offsets: to `offsets`, or the end of the topic (what earlier
    tests left there is not this test's). The router must be stopped."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, group_id=GROUP_ID, enable_auto_commit=False, **connection()
    )
    await consumer.start()
    try:
        if offsets is None:
            # A consumer with no subscription has no metadata yet: fetch every topic's.
            metadata = await consumer._client.fetch_all_metadata()
            parts = metadata.partitions_for_topic(REFERRALS_RECEIVED) or set()
            assert parts, f"{REFERRALS_RECEIVED} has no partitions"
            tps = [TopicPartition(REFERRALS_RECEIVED, p) for p in parts]
            offsets = dict(await consumer.end_offsets(tps))
        consumer.assign(list(offsets))
        await consumer.commit(dict(offsets))
    finally:
        await consumer.stop()


def _received(referral: ReferralReceived) -> tuple[str, bytes, dict[str, str]]:
    rid = str(referral.referral_id)
    headers = ce_headers(
        type=TYPE_RECEIVED,
        source="urn:nottssas:intake",
        time=referral.received_at,
        subject=rid,
        id=f"received:{rid}",
    )
    return rid, referral.model_dump_json().encode(), headers


async def _decided(bootstrap: str, ids: set[str]) -> list[Record]:
    return await collect(
        bootstrap,
        REFERRALS_DECIDED,
        lambda r: r.key in ids and r.headers.get("ce_type") == TYPE_DECIDED,
        until=lambda kept: {r.key for r in kept} >= ids,
        timeout=120,
        settle=4.0,
    )


async def _rows(dsn: str, ids: list[UUID]) -> tuple[int, int, int, int]:
    """(decisions, decisions published, outbox rows, outbox rows sent) of `ids`."""
    conn = await asyncpg.connect(dsn)
    try:
        d = await conn.fetchrow(
            "SELECT count(*) AS n, count(published_at) AS p FROM decisions"
            " WHERE referral_id = ANY($1::uuid[])",
            ids,
        )
        o = await conn.fetchrow(
            "SELECT count(*) AS n, count(sent_at) AS s FROM outbox WHERE message_key = ANY($1)",
            [str(i) for i in ids],
        )
    finally:
        await conn.close()
    assert d is not None
    assert o is not None
    return int(d["n"]), int(d["p"]), int(o["n"]), int(o["s"])


def _batch_lines(router: ServiceProcess) -> list[dict[str, Any]]:
    lines = router.tail(400).splitlines()
    return [json.loads(ln) for ln in lines if re.search(r'"event": ?"referrals decided"', ln)]


async def test_a_batch_with_one_bad_record_dead_letters_it_alone_and_is_not_redecided_when_redelivered(
    router: ServiceProcess, stack_env: dict[str, str], make_received: MakeReceived
) -> None:
    bootstrap, dsn = stack_env["KAFKA_BOOTSTRAP_SERVERS"], stack_env["ROUTER_DATABASE_URL"]
    referrals = [make_received() for _ in range(GOOD)]
    ids = [r.referral_id for r in referrals]
    bad_key = f"bad-{uuid4().hex[:8]}"
    shape = json.loads(referrals[0].model_dump_json())
    shape["submission"]["victim"]["postcode"] = "NOT A POSTCODE"
    bad = (bad_key, json.dumps(shape).encode(), cloudevent(TYPE_RECEIVED))
    records = [_received(r) for r in referrals]
    records.insert(GOOD // 2, bad)

    # The backlog waits while no router runs, so the router takes it as one batch.
    router.stop()
    await _commit(bootstrap)
    sent = await _send(bootstrap, records)
    router.start().wait_ready("/readyz", timeout=90)

    decided = await _decided(bootstrap, {str(i) for i in ids})
    assert sorted(r.key or "" for r in decided) == sorted(str(i) for i in ids), router.tail()
    assert {r.headers["ce_id"] for r in decided} == {f"decided:{i}" for i in ids}
    letters = await collect(
        bootstrap,
        OPS_DEADLETTER,
        lambda r: r.key == digest(bad_key),
        until=lambda kept: len(kept) >= 1,
        timeout=60,
        settle=3.0,
    )
    assert [r.json()["reason_code"] for r in letters] == ["validation_failed"], router.tail()
    assert letters[0].json()["error_fields"] == ["referral.submission.victim.postcode"]
    assert "NOT A POSTCODE" not in letters[0].value.decode()
    assert await _rows(dsn, ids) == (GOOD, GOOD, 2 * GOOD, 2 * GOOD)
    # The bad record was refused inside a batch whose other records took effect.
    assert any(
        line["dead_lettered"] == 1 and line["new"] == GOOD for line in _batch_lines(router)
    ), router.tail()

    # Consumed again from the same offsets, as after a kill between commit and offset commit
    # (stopped first: a killed member holds the group, and its offsets, until its session ends).
    router.stop()
    await _commit(bootstrap, sent)
    router.start().wait_ready("/readyz", timeout=90)
    again = await collect(
        bootstrap,
        OPS_DEADLETTER,
        lambda r: r.key == digest(bad_key),
        until=lambda kept: len(kept) >= 2,  # the bad record comes round again, and is refused
        timeout=60,
    )
    assert len(again) == 2, router.tail()
    assert sum(line["recalled"] for line in _batch_lines(router)) >= GOOD, router.tail()
    assert await _rows(dsn, ids) == (GOOD, GOOD, 2 * GOOD, 2 * GOOD), "no new decision or event"
    decided = await _decided(bootstrap, {str(i) for i in ids})
    assert sorted(r.key or "" for r in decided) == sorted(str(i) for i in ids), router.tail()
