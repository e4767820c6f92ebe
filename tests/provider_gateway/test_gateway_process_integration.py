"""The gateway as a real process (killed with SIGKILL and restarted), the demo receiver as a
real process, the real Kafka broker and PostgreSQL: what reaches providers, and how often.

Delivery is at-least-once: a webhook that was sent but whose result was not yet recorded when
the gateway died is sent again under the same `webhook-id`, and the receiver dedupes by that
id. So "none delivered twice" is counted as the receiver counts it: one entry per webhook-id,
exactly one per referral; the raw count (every POST that arrived) is reported beside it.
Started by the shared `stack_env` fixture, which FAILS (never skips) without Kafka/PostgreSQL.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import UUID

import httpx
import pytest

from tests.provider_gateway.gateway_harness import rows
from tests.provider_gateway.gateway_processes import (
    Processes,
    processes,
    publish_referrals,
    webhook_deliveries,
)
from tests.support.wait import eventually

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

# Short, but the same mechanisms as production: a retry schedule and a claim lease from env.
FAST = {
    "GATEWAY_RETRY_SCHEDULE": "1,1,2,2,2,2,2,2",
    "GATEWAY_RETRY_GIVE_UP_AFTER_SECONDS": "300",
    "GATEWAY_DELIVERY_POLL_SECONDS": "0.2",
    "GATEWAY_CONNECT_TIMEOUT_SECONDS": "1",
    "GATEWAY_READ_TIMEOUT_SECONDS": "3",
    "GATEWAY_DELIVERY_LEASE_SECONDS": "5",
    "GATEWAY_BREAKER_PROBE_SECONDS": "0.5",
}


@pytest.fixture
def running(stack_env: dict[str, str], tmp_path: Path) -> Iterator[Processes]:
    with processes(stack_env, tmp_path, **FAST) as started:
        yield started


def _all_delivered(running: Processes, ids: list[UUID], timeout: float = 90.0) -> None:
    """Wait until the gateway has recorded every webhook delivery of `ids` as delivered."""
    states: dict[str, int] = {}

    def delivered() -> bool:
        found = asyncio.run(webhook_deliveries(running.dsn, ids))
        states.clear()
        for r in found.values():
            states[r["state"]] = states.get(r["state"], 0) + 1
        return states.get("delivered") == len(ids)

    eventually(
        delivered,
        "every webhook delivery recorded as delivered",
        timeout=timeout,
        interval=0.2,
        last=lambda: f"by state: {states}\n{running.gateway.tail()}",
    )


def test_a_provider_down_for_a_while_gets_every_referral_once_when_it_is_back(
    running: Processes,
) -> None:
    n = 12
    running.control_all(fail_status=503)
    running.gateway.start().wait_ready()
    ids = asyncio.run(publish_referrals(running.bootstrap, n))

    # Down: every referral's webhook is refused at least twice before the provider comes back.
    found: dict[str, dict[str, Any]] = {}

    def failed_twice() -> bool:
        found.update(asyncio.run(webhook_deliveries(running.dsn, ids)))
        return len(found) == n and all(r["attempts"] >= 2 for r in found.values())

    eventually(
        failed_twice, "every delivery failed twice", timeout=60, interval=0.2, last=found.copy
    )
    assert running.received(ids) == {}
    running.control_all()

    got = running.wait_received(ids, at_least=n)
    _all_delivered(running, ids)
    time.sleep(1.0)  # anything still in flight lands before counting
    got = running.received(ids)
    counts = sorted(d["count"] for d in got.values())
    print(f"provider down/up: {n} referrals, unique {len(got)}, raw {sum(counts)}")
    assert set(got) == {str(r) for r in ids}
    assert counts == [1] * n, "a webhook-id reached the receiver more than once"
    assert {d["webhook_id"] for d in got.values()} == {f"asg_{r}_1" for r in ids}
    ledger = asyncio.run(
        rows(
            running.dsn,
            "SELECT t.status_code FROM delivery_attempts t JOIN assignments a USING"
            " (assignment_id) WHERE t.channel = 'webhook' AND a.referral_id = ANY($1::uuid[])",
            ids,
        )
    )
    codes = [r["status_code"] for r in ledger]
    assert codes.count(200) == n
    assert codes.count(503) >= 2 * n
    # The same story on /metrics, by provider and outcome only: no referral id in any label.
    exposed = httpx.get(f"{running.gateway.url}/metrics", timeout=5).text
    samples = {
        line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1])
        for line in exposed.splitlines()
        if line.startswith("gateway_")
    }
    for provider in ("nwa", "juno", "equation"):
        labels = f'channel="webhook",outcome="{{}}",provider="{provider}"'
        assert samples[f"gateway_delivery_attempts_total{{{labels.format('delivered')}}}"] >= n / 3
        assert samples[f"gateway_delivery_attempts_total{{{labels.format('retryable')}}}"] >= n / 3
    assert not any(str(r) in exposed for r in ids)


def test_a_gateway_killed_mid_delivery_and_restarted_delivers_every_referral_once_by_webhook_id(
    running: Processes,
) -> None:
    first, while_down = 24, 12
    running.control_all(delay_seconds=1.0)
    # Small batches, so deliveries go out in waves and the kill lands between them.
    running.gateway.env = {**running.gateway.env, "GATEWAY_DELIVERY_BATCH_SIZE": "3"}
    running.gateway.start().wait_ready()
    ids = asyncio.run(publish_referrals(running.bootstrap, first))
    running.wait_received(ids, at_least=first // 4)
    running.gateway.kill()
    at_kill = len(running.received(ids))
    assert at_kill < first, "the gateway was not killed mid-delivery"

    time.sleep(2.0)  # the requests it had in flight finish at the receiver
    arrived = set(running.received(ids))
    rows_now = asyncio.run(webhook_deliveries(running.dsn, ids))
    # Sent and received, but the gateway died before recording the result.
    unrecorded = {rid for rid in arrived if rows_now[rid]["state"] != "delivered"}
    assert unrecorded, "no delivery was in flight when the gateway was killed"

    ids += asyncio.run(publish_referrals(running.bootstrap, while_down))
    running.gateway.start().wait_ready()
    n = first + while_down
    running.wait_received(ids, at_least=n)
    _all_delivered(running, ids)
    time.sleep(1.0)
    got = running.received(ids)
    raw = sum(d["count"] for d in got.values())
    resent = {rid for rid, d in got.items() if d["count"] > 1}
    print(
        f"SIGKILL mid-delivery: {n} referrals, unique {len(got)}, raw {raw},"
        f" at kill {at_kill}, sent-but-unrecorded {len(unrecorded)}, re-sent {len(resent)}"
    )
    assert set(got) == {str(r) for r in ids}, "a referral was lost"
    assert {d["webhook_id"] for d in got.values()} == {f"asg_{r}_1" for r in ids}
    # The only webhooks sent twice are those whose result the killed gateway never recorded.
    assert resent == unrecorded
    assert max(d["count"] for d in got.values()) <= 2


def test_a_provider_can_read_and_answer_only_its_own_assignment(running: Processes) -> None:
    running.gateway.start().wait_ready()
    (rid,) = asyncio.run(publish_referrals(running.bootstrap, 1))  # the first goes to nwa
    running.wait_received([rid], at_least=1)
    url = f"{running.gateway.url}/v1/assignments/{rid}"

    def key(provider: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {running.keys[provider]}"}

    own = httpx.get(url, headers=key("nwa"), timeout=5)
    assert own.status_code == 200, own.text
    assert own.json()["assignment_id"] == f"asg_{rid}_1"
    assert own.json()["assignment"]["referral"]["victim"]["name"] == "Sam Example"
    assert httpx.get(url, headers=key("juno"), timeout=5).status_code == 404
    assert httpx.get(url, timeout=5).status_code == 401

    answer = {
        "referral_id": str(rid),
        "status": "accepted",
        "at": datetime.now(UTC).isoformat(),
    }
    as_juno = httpx.post(
        f"{url}/response", json={**answer, "provider": "juno"}, headers=key("juno"), timeout=5
    )
    assert as_juno.status_code == 404
    posing = httpx.post(
        f"{url}/response", json={**answer, "provider": "nwa"}, headers=key("juno"), timeout=5
    )
    assert posing.status_code == 403
    assert httpx.get(url, headers=key("nwa"), timeout=5).json()["state"] == "assigned"
    accepted = httpx.post(
        f"{url}/response", json={**answer, "provider": "nwa"}, headers=key("nwa"), timeout=5
    )
    assert accepted.status_code == 200, accepted.text
    assert httpx.get(url, headers=key("nwa"), timeout=5).json()["state"] == "accepted"
