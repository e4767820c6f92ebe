"""A run of the real pipeline that takes every path personal data could leak through.

What it does, in order, against real processes (receiver, intake, router, gateway):
- R1 (city, HTTP) is delivered to juno, then declined by juno over the HTTP callback with a
  marker as its free-text reason, so the gateway re-routes it to nwa;
- R2 (county, HTTP) meets nwa's endpoint failing twice with 503, and is delivered on a retry;
- R3 (male, HTTP) meets equation's webhook refusing it for good (400): dead letter and alert;
- R4 (city, Kafka, consent not given, a lawful basis recorded) is accepted from Kafka;
- an invalid submission over HTTP (422) and over Kafka (rejected), an unparseable one on
  `referrals.submitted.v1`, and two poison messages on `referrals.received.v1` (invalid JSON
  fields, and bytes that are not JSON), all full of markers, take the dead-letter paths.
Then it collects what ops could see: every new message on the ops topics (key, headers, raw
value), every service's log file, and every service's `/metrics`; and it judges every message
the services wrote to any contract topic meanwhile (tests/support/cloudevents_check.py).
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from uuid import uuid4

import asyncpg
import httpx

from shared.cloudevents import TYPE_RECEIVED, TYPE_SUBMITTED
from shared.topics import (
    ASSIGNMENTS_RESPONSES,
    OPS_ALERTS,
    OPS_DEADLETTER,
    OPS_EVENTS,
    REFERRALS_RECEIVED,
    REFERRALS_SUBMITTED,
)
from tests.ops.markers import MarkedReferral, run_token
from tests.support import cloudevents_check
from tests.support.kafka import Message, cloudevent, end_offsets, produce, read_since
from tests.support.pipeline import Pipeline
from tests.support.wait import eventually

OPS = (OPS_EVENTS, OPS_ALERTS, OPS_DEADLETTER)


@dataclass
class Run:
    """What the scenario did and what ops could see afterwards."""

    token: str
    referrals: dict[str, MarkedReferral]
    referral_ids: dict[str, str]
    extra_markers: dict[str, str]
    ops_messages: list[Message] = field(default_factory=list)
    responses: list[Message] = field(default_factory=list)
    logs: dict[str, str] = field(default_factory=dict)
    metrics: dict[str, str] = field(default_factory=dict)
    record: str = ""
    cloudevents: cloudevents_check.Report = field(default_factory=cloudevents_check.Report)

    def all_markers(self) -> dict[str, str]:
        out = {f"{tag} {k}": v for tag, r in self.referrals.items() for k, v in r.markers.items()}
        return out | self.extra_markers


def deliveries(pipeline: Pipeline) -> list[dict[str, Any]]:
    got: list[dict[str, Any]] = httpx.get(f"{pipeline.receiver.url}/received", timeout=5).json()[
        "deliveries"
    ]
    return got


def delivered_to(pipeline: Pipeline, referral_id: str, provider: str) -> bool:
    return any(
        d["referral_id"] == referral_id and d["provider"] == provider for d in deliveries(pipeline)
    )


def control(pipeline: Pipeline, provider: str, **wanted: Any) -> None:
    r = httpx.post(f"{pipeline.receiver.url}/control/{provider}", json=wanted, timeout=5)
    r.raise_for_status()


def submit(pipeline: Pipeline, body: dict[str, Any]) -> httpx.Response:
    return httpx.post(
        f"{pipeline.intake.url}/v1/referrals",
        json=body,
        timeout=10,
        headers={"Authorization": f"Bearer {pipeline.api_key}"},
    )


def refused_with_503(stack: dict[str, str], referral_id: str) -> bool:
    """Whether the gateway's delivery ledger holds a 503 for this referral's webhook."""

    async def count() -> int:
        conn = await asyncpg.connect(stack["GATEWAY_DATABASE_URL"])
        try:
            found: int = await conn.fetchval(
                "SELECT count(*) FROM delivery_attempts WHERE assignment_id LIKE $1"
                " AND status_code = 503",
                f"asg_{referral_id}_%",
            )
            return found
        finally:
            await conn.close()

    return asyncio.run(count()) > 0


def run_scenario(pipeline: Pipeline, stack: dict[str, str]) -> Run:
    bootstrap = stack["KAFKA_BOOTSTRAP_SERVERS"]
    token = run_token()
    start = asyncio.run(end_offsets(bootstrap, (*OPS, ASSIGNMENTS_RESPONSES)))
    contract_topics = asyncio.run(cloudevents_check.mark(bootstrap))
    refs = {
        "r1": MarkedReferral("r1", "NG7 2AH", "female"),
        "r2": MarkedReferral("r2", "NG24 2UE", "female"),
        "r3": MarkedReferral("r3", "NG7 2AH", "male"),
        "r4": MarkedReferral("r4", "NG7 2AH", "female", consent_given=False),
    }
    bodies = {tag: r.submission(token) for tag, r in refs.items()}
    ids: dict[str, str] = {}
    extra = {
        "decline reason": f"Zqx{token}declinereason victim moved house",
        "invalid http": f"Zqx{token}invalidhttp Person",
        "invalid kafka": f"Zqx{token}invalidkafka Person",
        "unparseable kafka": f"Zqx{token}unparseable Person",
        "poison received": f"Zqx{token}poisonjson Person",
        "poison bytes": f"Zqx{token}poisonbytes Person",
    }

    # R1: delivered to juno, then declined over HTTP: re-routed to nwa.
    r = submit(pipeline, bodies["r1"])
    assert r.status_code == 201, r.text
    ids["r1"] = r.json()["referral_id"]
    eventually(lambda: delivered_to(pipeline, ids["r1"], "juno"), "r1 at juno")
    answer = {
        "referral_id": ids["r1"],
        "provider": "juno",
        "status": "declined",
        "reason": extra["decline reason"],
        "at": datetime.now(UTC).isoformat(),
    }
    r = httpx.post(
        f"{pipeline.gateway.url}/v1/assignments/{ids['r1']}/response",
        json=answer,
        headers={"Authorization": f"Bearer {stack['PROVIDER_API_KEY_JUNO']}"},
        timeout=10,
    )
    assert r.status_code == 200, r.text

    # R2: nwa answers 503 until R2 itself has been refused (as the gateway's ledger records),
    # then recovers; a fixed failure budget could be used up by other nwa deliveries (R1's
    # re-route, or leftovers of earlier tests in the shared database). R3: equation refuses
    # for good.
    control(pipeline, "nwa", fail_status=503)
    control(pipeline, "equation", fail_status=400)
    for tag in ("r2", "r3"):
        r = submit(pipeline, bodies[tag])
        assert r.status_code == 201, r.text
        ids[tag] = r.json()["referral_id"]
    eventually(lambda: refused_with_503(stack, ids["r2"]), "r2 refused with 503")
    control(pipeline, "nwa")

    # R4 over Kafka, and the submissions that must be refused or dead-lettered.
    invalid_http = bodies["r4"] | {"victim": {"name": extra["invalid http"], "postcode": "nope"}}
    r = submit(pipeline, invalid_http)
    assert r.status_code == 422, r.text
    invalid_kafka = json.dumps(
        bodies["r4"]
        | {"submission_id": f"OPS-{token}-bad", "victim": {"name": extra["invalid kafka"]}}
    ).encode()
    poison_json = json.dumps(
        {"referral_id": "not-a-uuid", "submission": {"victim": {"name": extra["poison received"]}}}
    ).encode()
    kafka_headers = cloudevent(TYPE_SUBMITTED, agency_id="notts-police")

    async def send() -> None:
        await produce(
            bootstrap,
            REFERRALS_SUBMITTED,
            json.dumps(bodies["r4"]).encode(),
            key=bodies["r4"]["submission_id"],
            headers=kafka_headers,
        )
        await produce(
            bootstrap,
            REFERRALS_SUBMITTED,
            invalid_kafka,
            key=f"OPS-{token}-bad",
            headers=kafka_headers,
        )
        await produce(
            bootstrap,
            REFERRALS_SUBMITTED,
            b"{not json " + extra["unparseable kafka"].encode(),
            key=f"OPS-{token}-unparseable",
            headers=kafka_headers,
        )
        received = cloudevent(TYPE_RECEIVED)
        await produce(
            bootstrap, REFERRALS_RECEIVED, poison_json, key=str(uuid4()), headers=received
        )
        await produce(
            bootstrap,
            REFERRALS_RECEIVED,
            b"\xff\xfe" + extra["poison bytes"].encode(),
            key=str(uuid4()),
            headers=received,
        )

    asyncio.run(send())

    def r4_delivered() -> bool:
        for d in deliveries(pipeline):
            if d["assignment"]["decision"]["submission_id"] == bodies["r4"]["submission_id"]:
                ids["r4"] = d["referral_id"]
                return True
        return False

    eventually(lambda: delivered_to(pipeline, ids["r1"], "nwa"), "r1 re-routed to nwa")
    eventually(
        lambda: delivered_to(pipeline, ids["r2"], "nwa"), "r2 delivered to nwa after retries"
    )
    eventually(r4_delivered, "r4 delivered from Kafka")

    def dead_letters() -> list[Message]:
        return [m for m in asyncio.run(read_since(bootstrap, start)) if m.topic == OPS_DEADLETTER]

    # intake (unparseable), router and gateway (two poisons each), gateway (r3's webhook).
    eventually(lambda: len(dead_letters()) >= 6, "the dead letters", timeout=60)
    control(pipeline, "equation")
    time.sleep(3)  # let the relays publish whatever the last steps queued

    run = Run(token, refs, ids, extra)
    everything = asyncio.run(read_since(bootstrap, start))
    run.ops_messages = [m for m in everything if m.topic in OPS]
    run.responses = [m for m in everything if m.topic == ASSIGNMENTS_RESPONSES]
    for process in (pipeline.intake, pipeline.router, pipeline.gateway):
        run.metrics[process.name] = httpx.get(f"{process.url}/metrics", timeout=5).text
    for process in pipeline.all:
        run.logs[process.name] = process.log_path.read_text(errors="replace")
    run.record = pipeline.record.read_text(errors="replace")
    run.cloudevents = asyncio.run(cloudevents_check.check_since(bootstrap, contract_topics))
    return run
