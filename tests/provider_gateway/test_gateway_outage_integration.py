"""A provider that comes back, and a gateway killed mid-send: real processes, Kafka, PostgreSQL.

- Outage (issue 11, item 9): the demo receiver process is stopped for ~20 s while referrals
  are assigned, under the production retry schedule (10, 30, 120, 600 s ... of jitter); when it
  is started again, every waiting delivery must arrive within a short bound, because the
  endpoint's breaker probes it (one delivery every second here) and releases the rest at once.
- Ledger (item 10): the gateway is SIGKILLed while the receiver holds its request; after the
  restart the ledger lists that first request (outcome `unknown`) and the re-send, numbered 1
  and 2, and the receiver saw exactly as many requests under the same webhook-id.
Started by the shared `stack_env` fixture, which FAILS (never skips) without Kafka/PostgreSQL.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from uuid import UUID

import pytest

from tests.provider_gateway.gateway_harness import rows
from tests.provider_gateway.gateway_processes import (
    PROVIDERS,
    Processes,
    processes,
    publish_referrals,
    webhook_deliveries,
)
from tests.support.wait import eventually

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]

OUTAGE_SECONDS = 20.0
RECOVERY_BOUND_SECONDS = 15.0


def _wait(probe: Callable[[], bool], what: str, timeout: float, running: Processes) -> None:
    eventually(probe, what, timeout=timeout, interval=0.2, last=running.gateway.tail)


def test_after_an_outage_every_waiting_delivery_arrives_soon_after_the_provider_answers(
    stack_env: dict[str, str], tmp_path: Path
) -> None:
    n = 18
    fast_probe = {
        # The production retry schedule: without the breaker, waits of up to 120 s and more.
        "GATEWAY_BREAKER_PROBE_SECONDS": "1",
        "GATEWAY_BREAKER_RELEASE_PER_SECOND": "20",
        "GATEWAY_DELIVERY_POLL_SECONDS": "0.2",
        "GATEWAY_CONNECT_TIMEOUT_SECONDS": "1",
        "GATEWAY_READ_TIMEOUT_SECONDS": "3",
        "GATEWAY_DELIVERY_LEASE_SECONDS": "10",
    }
    with processes(stack_env, tmp_path, **fast_probe) as running:
        running.gateway.start().wait_ready()
        started = datetime.now(UTC)
        running.receiver.stop()  # down: connections are refused
        down_at = time.monotonic()
        ids = asyncio.run(publish_referrals(running.bootstrap, n))

        def all_waiting() -> bool:
            # Assigned, and tried at least once each (on main) or held by an open breaker.
            found = asyncio.run(webhook_deliveries(running.dsn, ids))
            return len(found) == n and sum(r["attempts"] for r in found.values()) >= 3 * 3

        _wait(all_waiting, "every delivery to wait for the provider", OUTAGE_SECONDS, running)
        time.sleep(max(0.0, OUTAGE_SECONDS - (time.monotonic() - down_at)))
        breakers = asyncio.run(rows(running.dsn, "SELECT provider, breaker_state FROM endpoints"))
        assert {r["breaker_state"] for r in breakers} <= {"open", "half_open"}, breakers

        running.receiver.start().wait_ready("/healthz", timeout=30)
        back = time.monotonic()
        got = running.wait_received(ids, at_least=n, timeout=60)
        took = time.monotonic() - back
        print(f"outage {OUTAGE_SECONDS:g} s: {n} waiting deliveries all arrived {took:.1f} s after")
        assert took <= RECOVERY_BOUND_SECONDS, f"the last delivery came {took:.1f} s after recovery"
        assert sorted(d["count"] for d in got.values()) == [1] * n

        alerts = asyncio.run(
            rows(
                running.dsn,
                "SELECT payload FROM outbox WHERE topic = 'ops.alerts.v1' AND created_at >= $1",
                started,
            )
        )
        kinds = [json.loads(r["payload"]) for r in alerts]
        for provider in PROVIDERS:
            mine = [a["kind"] for a in kinds if a.get("provider") == provider]
            assert mine.count("endpoint_unhealthy") == 1, mine
            assert mine.count("endpoint_recovered") == 1, mine


def test_a_request_sent_before_a_kill_is_in_the_ledger_and_the_resend_is_attempt_two(
    stack_env: dict[str, str], tmp_path: Path
) -> None:
    settings = {
        "GATEWAY_DELIVERY_POLL_SECONDS": "0.2",
        "GATEWAY_CONNECT_TIMEOUT_SECONDS": "1",
        "GATEWAY_READ_TIMEOUT_SECONDS": "3",
        "GATEWAY_DELIVERY_LEASE_SECONDS": "5",
    }
    with processes(stack_env, tmp_path, **settings) as running:
        running.control_all(delay_seconds=3.0)  # the receiver holds each request for 3 s
        running.gateway.start().wait_ready()
        (rid,) = asyncio.run(publish_referrals(running.bootstrap, 1))
        aid = f"asg_{rid}_1"

        def leased() -> bool:
            found = asyncio.run(
                rows(
                    running.dsn,
                    "SELECT 1 FROM deliveries WHERE assignment_id = $1 AND channel = 'webhook'"
                    " AND next_attempt_at > now() + interval '1 second'",
                    aid,
                )
            )
            return bool(found)

        _wait(leased, "the webhook delivery to be claimed", 60, running)
        time.sleep(0.7)  # the request is at the receiver, which holds it
        running.gateway.kill()
        running.wait_received([rid], at_least=1, timeout=10)  # it did reach the provider

        running.control_all()
        running.gateway.start().wait_ready()

        def delivered() -> bool:
            found = asyncio.run(webhook_deliveries(running.dsn, [rid]))
            return found.get(str(rid), {}).get("state") == "delivered"

        _wait(delivered, "the re-send to be recorded", 60, running)
        ledger = asyncio.run(_ledger(running.dsn, rid))
        got = running.received([rid])[str(rid)]
        print(f"SIGKILL before recording: ledger {ledger}, receiver count {got['count']}")
        assert ledger == [(1, "unknown", None), (2, "delivered", 200)]
        assert got["webhook_id"] == aid
        assert got["count"] == len(ledger), "the provider saw a request the ledger does not list"


async def _ledger(dsn: str, rid: UUID) -> list[tuple[int, str, int | None]]:
    found = await rows(
        dsn,
        "SELECT t.attempt, t.outcome, t.status_code FROM delivery_attempts t"
        " JOIN assignments a USING (assignment_id)"
        " WHERE t.channel = 'webhook' AND a.referral_id = $1 ORDER BY t.attempt",
        rid,
    )
    return [(r["attempt"], r["outcome"], r["status_code"]) for r in found]
