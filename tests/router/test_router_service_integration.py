"""The router service as a real process on the real Kafka broker and PostgreSQL.

Rules shown here (app.py, handlers.py, adapters/store.py):
- a ReferralReceived on `referrals.received.v1` comes out as its Decision on `referrals.decided.v1`,
  keyed by the referral id, with CloudEvents headers (`ce_id` = `decided:<referral_id>`);
- a poison message (not JSON; JSON that is not a ReferralReceived) is dead-lettered on
  `ops.deadletter.v1` under its key's digest with its reason, through the router's outbox, and
  the consumer goes on;
- killed (SIGKILL) halfway through a backlog, while its relay is publishing (some decisions
  already marked published, some not), and started again, the router decides every referral,
  and each referral has exactly one decision: one row in `decisions`, one decision downstream
  (the relay's recovery at start marks what Kafka already holds instead of sending it again);
- stopped (SIGTERM) halfway through a backlog, the router finishes the message in hand, commits,
  and exits cleanly (status 0) well within its grace period; started again, it decides the rest,
  and no decision is published twice (nothing was left half-done).

The router's consumer group is fixed (`router`); these tests need a stack nobody else consumes
from (see DEV_DIR in tests/support/infra.py). They fail, never skip, without Kafka and PostgreSQL.
"""

from __future__ import annotations

import asyncio
import json
import signal
from collections import defaultdict
from typing import Any
from uuid import uuid4

import asyncpg
import pytest

from services.common.edge import digest
from shared.cloudevents import TYPE_DECIDED, TYPE_RECEIVED
from shared.topics import OPS_DEADLETTER, OPS_EVENTS, REFERRALS_DECIDED, REFERRALS_RECEIVED
from tests.router.conftest import MakeReceived
from tests.router.router_kafka import (
    published_ids,
    read_decisions,
    received,
    send_all_received,
    send_received,
    stored,
    stored_at_least,
)
from tests.support.cloudevents_check import assert_valid_cloudevents, mark
from tests.support.kafka import Record, cloudevent, collect, produce
from tests.support.processes import ServiceProcess
from tests.support.report import report

pytestmark = pytest.mark.integration

BACKLOG = 300


async def test_received_referrals_come_out_decided_keyed_by_referral_id_with_cloudevent_headers(
    router: ServiceProcess, stack_env: dict[str, str], public_cases: list[dict[str, Any]]
) -> None:
    bootstrap = stack_env["KAFKA_BOOTSTRAP_SERVERS"]
    sent = {}
    for case in public_cases:
        referral = received(case["submission"])
        sent[str(referral.referral_id)] = case["expect"]
        await send_received(bootstrap, referral)
    records = await read_decisions(bootstrap, set(sent))
    assert {r.key for r in records} == set(sent), router.tail()
    for record in records:
        assert record.key is not None
        decision, expect = record.json(), sent[record.key]
        assert decision["referral_id"] == record.key
        assert (decision["pathway"], decision["provider"], decision["priority"]) == (
            expect["pathway"],
            expect["provider"],
            expect["priority"],
        )
        assert sorted(decision["notify"]) == sorted(expect["notify"])
        assert decision["locality"]["area"] == expect["area"]
        assert decision["trace"], "a decision carries its trace"
        assert record.headers["ce_id"] == f"decided:{record.key}"
        assert record.headers["ce_type"] == TYPE_DECIDED
        assert record.headers["ce_source"] == "urn:nottssas:router"
        assert record.headers["ce_subject"] == record.key
        assert record.headers["ce_specversion"] == "1.0"
        assert record.headers["content-type"] == "application/json"


async def test_poison_messages_are_dead_lettered_with_their_reason_and_the_consumer_goes_on(
    router: ServiceProcess, stack_env: dict[str, str], make_received: MakeReceived
) -> None:
    bootstrap = stack_env["KAFKA_BOOTSTRAP_SERVERS"]
    run = uuid4().hex[:8]
    not_json, not_referral = f"poison-bytes-{run}", f"poison-shape-{run}"
    json_headers = cloudevent(TYPE_RECEIVED)
    await produce(
        bootstrap, REFERRALS_RECEIVED, b"\x00not json{", key=not_json, headers=json_headers
    )
    await produce(
        bootstrap,
        REFERRALS_RECEIVED,
        json.dumps({"referral_id": "not-a-uuid", "hello": "world"}).encode(),
        key=not_referral,
        headers=json_headers,
    )
    after = make_received()
    await send_received(bootstrap, after)

    letters = await collect(
        bootstrap,
        OPS_DEADLETTER,
        lambda r: r.key in {digest(not_json), digest(not_referral)},
        until=lambda kept: len(kept) >= 2,
        timeout=60,
    )
    # Keys that are not referral ids reach ops as digests only.
    by_key = {r.key: r.json() for r in letters}
    assert set(by_key) == {digest(not_json), digest(not_referral)}, router.tail()
    assert by_key[digest(not_json)]["reason_code"] == "unparseable_json"
    assert by_key[digest(not_referral)]["reason_code"] == "validation_failed"
    assert {"referral.referral_id", "referral.received_at", "referral.unknown_field"} <= set(
        by_key[digest(not_referral)]["error_fields"]
    )
    for letter in by_key.values():
        assert (letter["service"], letter["source_topic"]) == ("router", REFERRALS_RECEIVED)
        assert letter["source_offset"] is not None
    # Queued on the router's outbox (its relay published them), each under an id derived from
    # its record (ops_ids), which is also its ce_id.
    conn = await asyncpg.connect(stack_env["ROUTER_DATABASE_URL"])
    try:
        rows = await conn.fetch(
            "SELECT headers->>'ce_id' AS id FROM outbox WHERE topic = $1", OPS_DEADLETTER
        )
    finally:
        await conn.close()
    for record in letters:
        assert record.headers["ce_id"] == record.json()["dead_letter_id"]
        assert record.json()["dead_letter_id"] in {r["id"] for r in rows}
    decided = await read_decisions(bootstrap, {str(after.referral_id)})
    assert [r.key for r in decided] == [str(after.referral_id)], router.tail()


async def test_a_router_killed_mid_stream_decides_every_referral_once_after_a_restart(
    router: ServiceProcess, stack_env: dict[str, str], make_received: MakeReceived
) -> None:
    bootstrap, dsn = stack_env["KAFKA_BOOTSTRAP_SERVERS"], stack_env["ROUTER_DATABASE_URL"]
    referrals = [
        make_received(victim__gender="male" if i % 3 == 0 else "female") for i in range(BACKLOG)
    ]
    expected = {
        str(r.referral_id): "equation" if i % 3 == 0 else "juno" for i, r in enumerate(referrals)
    }
    ids = [r.referral_id for r in referrals]
    await send_all_received(bootstrap, referrals)

    stored_at_kill = await stored_at_least(dsn, ids, 25, published=1)
    router.kill()
    assert 0 < stored_at_kill < BACKLOG, (
        f"the kill did not land mid-stream ({stored_at_kill} of {BACKLOG} stored)\n{router.tail()}"
    )
    marked_at_kill = await published_ids(dsn, ids)
    router.start().wait_ready("/readyz", timeout=90)

    # Settle: keep reading a while after the last one arrives, so late duplicates are seen too.
    records = await read_decisions(bootstrap, set(expected), settle=5.0)
    by_referral: dict[str, list[Record]] = defaultdict(list)
    for record in records:
        assert record.key is not None
        by_referral[record.key].append(record)
    missing = set(expected) - set(by_referral)
    assert not missing, f"{len(missing)} referrals never decided\n{router.tail()}"
    for rid, copies in by_referral.items():
        decisions = {r.value for r in copies}
        # One decision per referral: a republished one is the identical bytes under the same
        # ce_id (consumers dedupe); a second, different decision is the failure.
        assert len(decisions) == 1, f"{rid} decided differently: {decisions}"
        assert {r.headers["ce_id"] for r in copies} == {f"decided:{rid}"}
        decision = copies[0].json()
        assert (decision["pathway"], decision["provider"]) == ("stalking_advocacy", expected[rid])
    assert await stored(dsn, ids) == (BACKLOG, BACKLOG)
    repeated = {rid for rid, copies in by_referral.items() if len(copies) > 1}
    report(
        f"router-kill: {stored_at_kill} of {BACKLOG} stored, {len(marked_at_kill)} marked"
        f" published at the kill; {len(repeated)} published twice after the restart"
    )
    # A decision whose publication was recorded is never published again, and one that Kafka
    # had acknowledged but whose mark the kill cut off is found there by the relay's recovery at
    # start and marked instead of sent again: at most the one in flight at the kill goes twice.
    assert not repeated & marked_at_kill, (
        f"{len(repeated & marked_at_kill)} decisions republished after their mark had committed"
    )
    repeats = sum(len(copies) - 1 for copies in by_referral.values())
    assert repeats <= 1, f"{repeats} republished decisions; at most the one in flight at the kill"


async def test_a_router_stopped_mid_stream_exits_cleanly_and_leaves_nothing_half_done(
    router: ServiceProcess, stack_env: dict[str, str], make_received: MakeReceived
) -> None:
    bootstrap, dsn = stack_env["KAFKA_BOOTSTRAP_SERVERS"], stack_env["ROUTER_DATABASE_URL"]
    referrals = [make_received() for _ in range(5 * BACKLOG)]  # batched router: a longer stream
    ids, total = [r.referral_id for r in referrals], len(referrals)
    await send_all_received(bootstrap, referrals)

    await stored_at_least(dsn, ids, 25)
    assert router.proc is not None
    router.proc.send_signal(signal.SIGTERM)
    status = await asyncio.to_thread(router.proc.wait, 30)
    assert status == 0, f"exit status {status}\n{router.tail()}"
    assert '"stopped"' in router.tail(80), router.tail()
    rows, published = await stored(dsn, ids)
    assert 0 < rows < total, f"the stop did not land mid-stream ({rows} of {total} stored)"
    assert rows == published, "a decision was stored and left unpublished at the stop"

    router.start().wait_ready("/readyz", timeout=90)
    records = await read_decisions(bootstrap, {str(i) for i in ids}, settle=5.0)
    keys = [r.key for r in records]
    assert set(keys) == {str(i) for i in ids}
    assert len(keys) == len(set(keys)), "a decision was published twice across the stop"
    assert await stored(dsn, ids) == (total, total)


async def test_what_the_router_writes_is_a_cloudevent_of_its_topic_and_schema(
    router: ServiceProcess, stack_env: dict[str, str], make_received: MakeReceived
) -> None:
    """Read with the official CloudEvents SDK and the contract's JSON Schemas: every message of
    ours since this test started, after one poison message and one referral."""
    bootstrap = stack_env["KAFKA_BOOTSTRAP_SERVERS"]
    marks = await mark(bootstrap)
    poison_key = f"poison-{uuid4().hex[:8]}"
    await produce(
        bootstrap,
        REFERRALS_RECEIVED,
        b"{not json",
        key=poison_key,
        headers=cloudevent(TYPE_RECEIVED),
    )
    referral = make_received()
    await send_received(bootstrap, referral)
    assert await read_decisions(bootstrap, {str(referral.referral_id)}), router.tail()
    await collect(
        bootstrap,
        OPS_DEADLETTER,
        lambda r: r.key == digest(poison_key),  # ops carries a digest of an unvalidated key
        until=lambda kept: len(kept) >= 1,
        timeout=60,
    )
    await assert_valid_cloudevents(
        bootstrap, marks, expect=(REFERRALS_DECIDED, OPS_EVENTS, OPS_DEADLETTER)
    )
