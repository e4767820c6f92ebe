"""The gateway's deliveries against the real Kafka and PostgreSQL, with the demo receiver on
real HTTP (gateway_live.py): signed webhooks and Kafka assignments, redeliveries, retries,
dead letters and their replay, a gone endpoint disabled until enabled.
"""

from __future__ import annotations

import itertools
from typing import Any
from uuid import uuid4

import asyncpg
import pytest

from services.provider_gateway.adapters import admin
from tests.provider_gateway.gateway_harness import (
    eventually,
    publish_referral,
    rows,
)
from tests.provider_gateway.gateway_live import Gateway, cli, referral
from tests.provider_gateway.gateway_samples import decision_for, received_event

pytestmark = [
    pytest.mark.integration,
    pytest.mark.timeout(300),
    pytest.mark.usefixtures("receiver_works"),
]


async def test_decided_and_received_become_a_signed_webhook_and_a_kafka_assignment(
    gateway: Gateway,
) -> None:
    rid = await referral(gateway, "juno")
    asg = f"asg_{rid}_1"
    got = await gateway.delivered_to("juno", asg)
    assert (got["referral_id"], got["pathway"], got["reason"]) == (
        str(rid),
        "stalking_advocacy",
        "decision",
    )
    assert got["assignment"]["referral"]["victim"]["name"] == "Sam Example"
    delivered = await gateway.tap.wait_for(
        "ops.events.v1", str(rid), lambda b: b["state"] == "delivered"
    )
    assert delivered["provider"] == "juno"
    assert delivered["latency_ms"] is not None
    on_topic = await gateway.tap.wait_for("assignments.juno.v1", str(rid))
    assert on_topic["assignment_id"] == asg
    assert gateway.tap.headers("assignments.juno.v1", str(rid))[0]["ce_id"] == asg
    await eventually(lambda: gateway.attempts(asg), what="ledger row")
    (first,) = await gateway.attempts(asg)
    assert (first["status_code"], first["outcome"]) == (200, "delivered")


async def test_a_redelivered_decision_makes_no_second_assignment(gateway: Gateway) -> None:
    rid = await referral(gateway, "juno")
    await gateway.delivered_to("juno", f"asg_{rid}_1")
    await publish_referral(gateway.bootstrap, received_event(rid), decision_for(rid, "nwa"))
    later = await referral(gateway, "juno")  # partitions differ: wait for the redelivery too
    await gateway.delivered_to("juno", f"asg_{later}_1")
    found = await rows(
        gateway.dsn, "SELECT assignment_id FROM assignments WHERE referral_id = $1", rid
    )
    assert found == [{"assignment_id": f"asg_{rid}_1"}]


async def test_out_of_area_makes_no_assignment(gateway: Gateway) -> None:
    rid = uuid4()
    await publish_referral(
        gateway.bootstrap, received_event(rid), decision_for(rid, None, pathway="out_of_area")
    )
    await eventually(
        lambda: rows(
            gateway.dsn,
            "SELECT 1 FROM decisions WHERE referral_id = $1"
            " AND EXISTS (SELECT 1 FROM referrals_received r"
            " WHERE r.referral_id = $1)",
            rid,
        ),
        what="both halves stored",
    )
    assert await rows(gateway.dsn, "SELECT 1 FROM assignments WHERE referral_id = $1", rid) == []


async def test_failures_are_retried_under_the_same_webhook_id_honouring_retry_after(
    gateway: Gateway,
) -> None:
    await gateway.control("juno", fail_status=503, retry_after=1)
    rid = await referral(gateway, "juno")
    asg = f"asg_{rid}_1"

    async def failed_twice() -> list[dict[str, Any]] | None:
        found = await gateway.attempts(asg)
        return found if len(found) >= 2 else None

    await eventually(failed_twice, what="two failed attempts")
    await gateway.control("juno")
    got = await gateway.delivered_to("juno", asg)
    assert got["count"] == 1
    ledger = await gateway.attempts(asg)
    assert [a["status_code"] for a in ledger][-1] == 200
    assert {a["status_code"] for a in ledger[:-1]} == {503}
    assert [a["attempt"] for a in ledger] == list(range(1, len(ledger) + 1))
    gaps = [(b["at"] - a["at"]).total_seconds() for a, b in itertools.pairwise(ledger)]
    assert min(gaps) >= 0.9  # Retry-After: 1 beats the 0.3 s schedule


async def test_an_exhausted_delivery_is_dead_lettered_then_replayed(gateway: Gateway) -> None:
    await gateway.control("equation", fail_status=500)
    rid = await referral(gateway, "equation")
    asg = f"asg_{rid}_1"
    letter = await gateway.tap.wait_for("ops.deadletter.v1", str(rid))
    assert (letter["reason_code"], letter["source_topic"]) == ("exhausted", "webhook:equation")
    alert = await gateway.tap.wait_for("ops.alerts.v1", str(rid))
    assert alert["kind"] == "delivery_exhausted"
    await gateway.tap.wait_for("ops.events.v1", str(rid), lambda b: b["state"] == "delivery_failed")
    ledger = await gateway.attempts(asg)
    assert (ledger[-1]["at"] - ledger[0]["at"]).total_seconds() >= 2.0
    listed = cli(gateway, "deliveries", "failed", "--provider", "equation")
    (line,) = [x for x in listed.splitlines() if asg in x]
    assert f"attempts={len(ledger)}" in line
    assert "last_status_code=500" in line
    assert "Sam Example" not in listed
    await gateway.control("equation")
    assert (
        cli(gateway, "deliveries", "replay", "--assignment", asg)
        .strip()
        .endswith("1 deliveries queued again")
    )
    await gateway.delivered_to("equation", asg)
    await gateway.tap.wait_for("ops.events.v1", str(rid), lambda b: b["state"] == "delivered")


async def test_gone_disables_the_endpoint_until_it_is_enabled(gateway: Gateway) -> None:
    await gateway.control("equation", fail_status=410)
    pool = await asyncpg.create_pool(gateway.dsn, min_size=1, max_size=2)
    try:
        rid = await referral(gateway, "equation")
        alert = await gateway.tap.wait_for(
            "ops.alerts.v1", str(rid), lambda b: b["kind"] == "dead_lettered"
        )
        assert alert["reason_code"] == "endpoint_gone"
        (endpoint,) = [e for e in await admin.endpoints(pool) if e["provider"] == "equation"]
        assert endpoint["disabled_at"] is not None
        await gateway.control("equation")
        waiting = await referral(gateway, "equation")
        await eventually(
            lambda: rows(gateway.dsn, "SELECT 1 FROM assignments WHERE referral_id = $1", waiting),
            what="assignment",
        )
        assert await gateway.attempts(f"asg_{waiting}_1") == []
        assert await admin.enable_endpoint(pool, "equation") is True
        await gateway.delivered_to("equation", f"asg_{waiting}_1")
    finally:
        await admin.enable_endpoint(pool, "equation")
        await pool.close()
