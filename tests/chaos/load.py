"""Referrals sent to intake over HTTP at a steady pace, as an agency's system would send them.

Rules kept here:
- Each referral is a public routing case that goes to a provider, with a fresh submission_id.
- An agency retries what did not get an answer (connection refused, timeout, 5xx, 429) with
  the same body and the same `Idempotency-Key`, so a retry cannot make a second referral;
  with several intakes it tries the next one. It gives up after `give_up_after` seconds.
- Accepted means 201 with a referral id, or 200 with one: the answer to a retry whose first
  attempt was accepted but whose 201 was lost with the crashed intake ("already accepted under
  this key"). Those must all be delivered. Anything else final (400, 409, 422, giving up) is
  refused, counted, and owed nothing.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from uuid import uuid4

import httpx

from tests.chaos.faults import now
from tests.support.infra import ROOT

CASES = ROOT.parent / "shared" / "cases" / "public-routing-cases.jsonl"
RETRYABLE = frozenset({429, 500, 502, 503, 504})


def deliverable_submissions(count: int, cases: Path = CASES) -> list[dict[str, Any]]:
    """`count` submissions, cycling through the cases that a provider should receive."""
    lines = [json.loads(line) for line in cases.read_text().splitlines() if line.strip()]
    chosen = [c["submission"] for c in lines if c["expect"]["provider"] is not None]
    run = uuid4().hex[:8]
    return [
        chosen[i % len(chosen)] | {"submission_id": f"CHAOS-{run}-{i:05d}"} for i in range(count)
    ]


@dataclass
class Sent:
    accepted: dict[str, datetime] = field(default_factory=dict)
    refused: dict[str, int] = field(default_factory=dict)  # final status (0: gave up) -> count
    retries: int = 0


async def send(
    intakes: list[str],
    api_key: str,
    submissions: list[dict[str, Any]],
    *,
    spread: float,
    give_up_after: float = 120.0,
    concurrency: int = 8,
    transport: httpx.AsyncBaseTransport | None = None,
) -> Sent:
    """POST every submission, evenly over `spread` seconds, across `intakes` in turn."""
    sent = Sent()
    gate = asyncio.Semaphore(concurrency)
    start = time.monotonic()
    async with httpx.AsyncClient(timeout=10, transport=transport) as client:

        async def one(index: int, body: dict[str, Any]) -> None:
            await asyncio.sleep(
                max(0.0, start + spread * index / len(submissions) - time.monotonic())
            )
            async with gate:
                await _submit(client, sent, intakes, index, api_key, body, give_up_after)

        await asyncio.gather(*(one(i, body) for i, body in enumerate(submissions)))
    return sent


async def _submit(
    client: httpx.AsyncClient,
    sent: Sent,
    intakes: list[str],
    index: int,
    api_key: str,
    body: dict[str, Any],
    give_up_after: float,
) -> None:
    headers = {"Authorization": f"Bearer {api_key}", "Idempotency-Key": body["submission_id"]}
    deadline = time.monotonic() + give_up_after
    attempt = 0
    while time.monotonic() < deadline:
        url = f"{intakes[(index + attempt) % len(intakes)]}/v1/referrals"
        attempt += 1
        try:
            response = await client.post(url, json=body, headers=headers)
        except httpx.TransportError:
            status = None
        else:
            status = response.status_code
            if status in (200, 201):
                sent.accepted[response.json()["referral_id"]] = now()
                return
            if status not in RETRYABLE:
                sent.refused[str(status)] = sent.refused.get(str(status), 0) + 1
                return
        sent.retries += 1
        await asyncio.sleep(min(2.0, 0.25 * attempt))
    sent.refused["gave up"] = sent.refused.get("gave up", 0) + 1
