"""The erasure end-to-end scenario (test_erasure_pipeline_integration.py): two marked referrals
delivered thin, fetched by their provider, then one erased by an operator.

`run_scenario` does it on a running pipeline whose gateway sends thin deliveries and returns
what happened; the helpers read what a test then checks (tables, topics, the provider's fetch).
"""

from __future__ import annotations

import asyncio
import functools
import json
from dataclasses import dataclass
from typing import Any
from uuid import UUID, uuid4

import asyncpg
import httpx

from tests.support.kafka import Record, read_since, start_offsets
from tests.support.pipeline import Pipeline
from tests.support.wait import eventually

# The services' consumer groups are shared with earlier tests, which may leave a backlog on the
# topics (referrals published without a router running): the first delivery may wait behind it.
FIRST_DELIVERY_SECONDS = 300
PROVIDERS = ("nwa", "juno", "equation")


@dataclass
class Scenario:
    pipeline: Pipeline
    stack: dict[str, str]
    markers: dict[str, str]  # referral id -> its marker
    erased: str
    kept: str
    webhooks: dict[str, dict[str, Any]]  # referral id -> the thin delivery received
    first_fetch: dict[str, httpx.Response]  # referral id -> the provider's fetch before erasure
    erasures: list[httpx.Response]


def run_scenario(pipeline: Pipeline, stack: dict[str, str], example: dict[str, Any]) -> Scenario:
    markers = {}
    for _ in range(2):
        marker = f"zq{uuid4().hex[:16]}"
        markers[_submit(pipeline, example, marker)] = marker
    erased, kept = list(markers)
    webhooks = {
        rid: eventually(
            functools.partial(_webhook, pipeline, rid),
            f"webhook of {rid}",
            timeout=FIRST_DELIVERY_SECONDS,
        )
        for rid in markers
    }
    scenario = Scenario(pipeline, stack, markers, erased, kept, webhooks, {}, [])
    scenario.first_fetch = {rid: fetch(scenario, rid) for rid in markers}
    # The webhook can now arrive before intake has put the decision on its timeline (its
    # consumer of referrals.decided.v1 runs beside the gateway's): the timeline test needs both.
    eventually(
        functools.partial(_on_timeline, pipeline, erased, "decided"),
        "intake's timeline to show the decision",
        timeout=FIRST_DELIVERY_SECONDS,
    )
    scenario.erasures = [_erase(pipeline, erased), _erase(pipeline, erased)]
    # The gateway hears of the erasure on ops.events.v1 (its fetch answers 410 at once: the
    # key is gone); wait until it has recorded it and forgotten its copies.
    query = "SELECT 1 AS done FROM erased_referrals WHERE referral_id = $1"
    eventually(
        lambda: asyncio.run(rows(stack["GATEWAY_DATABASE_URL"], query, UUID(erased))) or None,
        "the gateway to record the erasure",
        timeout=FIRST_DELIVERY_SECONDS,
    )
    return scenario


def _submit(pipeline: Pipeline, example: dict[str, Any], marker: str) -> str:
    body = json.loads(json.dumps(example))
    body["submission_id"] = f"ERASE-{uuid4().hex[:10]}"
    body["victim"]["name"] = f"Victim {marker}"
    body["referrer"]["name"] = f"Referrer {marker}"
    response = httpx.post(
        f"{pipeline.intake.url}/v1/referrals",
        json=body,
        headers={"Authorization": f"Bearer {pipeline.api_key}"},
        timeout=10,
    )
    assert response.status_code == 201, response.text
    referral_id: str = response.json()["referral_id"]
    return referral_id


def _webhook(pipeline: Pipeline, referral_id: str) -> dict[str, Any] | None:
    got = httpx.get(f"{pipeline.receiver.url}/received", timeout=5).json()
    return next((d for d in got["deliveries"] if d["referral_id"] == referral_id), None)


def fetch(scenario: Scenario, referral_id: str) -> httpx.Response:
    """The provider's fetch of a referral's details, from the link its thin webhook gave."""
    delivery = scenario.webhooks[referral_id]
    provider = delivery["provider"]
    key = scenario.stack[f"PROVIDER_API_KEY_{provider.upper()}"]
    url = delivery["assignment"]["details_url"]
    return httpx.get(url, headers={"Authorization": f"Bearer {key}"}, timeout=10)


def _on_timeline(pipeline: Pipeline, referral_id: str, state: str) -> bool | None:
    status = httpx.get(
        f"{pipeline.intake.url}/v1/referrals/{referral_id}",
        headers={"Authorization": f"Bearer {pipeline.api_key}"},
        timeout=10,
    ).json()
    return True if state in {e["state"] for e in status.get("timeline", [])} else None


def _erase(pipeline: Pipeline, referral_id: str) -> httpx.Response:
    token = pipeline.intake.env["INTAKE_OPERATOR_TOKEN"]
    return httpx.post(
        f"{pipeline.intake.url}/operator/v1/referrals/{referral_id}/erasure",
        json={"operator": "e2e.tester", "reason": "DPO-E2E-1"},
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )


async def rows(dsn: str, query: str, *args: Any) -> list[dict[str, Any]]:
    conn = await asyncpg.connect(dsn)
    try:
        return [dict(r) for r in await conn.fetch(query, *args)]
    finally:
        await conn.close()


def topic_records(stack: dict[str, str], topic: str, referral_id: str) -> list[Record]:
    """Every message the topic holds (from its start to its end now) keyed by the referral."""
    bootstrap = stack["KAFKA_BOOTSTRAP_SERVERS"]

    async def read() -> list[Record]:
        return [
            Record(
                m.topic,
                m.key.decode(errors="replace"),
                {k: v.decode(errors="replace") for k, v in m.headers},
                m.value,
            )
            for m in await read_since(bootstrap, await start_offsets(bootstrap, (topic,)))
            if m.key is not None and m.key.decode(errors="replace") == referral_id
        ]

    return asyncio.run(read())
