"""Erasure end to end, on the real Kafka and PostgreSQL with every service running.

Two referrals with unique markers in their personal fields go through intake, the router and
the gateway to providers on thin deliveries (claim check); an operator then erases one.

Rules checked here:
- the thin webhook carries no personal field; the provider fetches the clear details from the
  link it was given (each fetch audited);
- after `erase`: the provider's fetch answers 410, the referral's data key is destroyed and no
  table holds its personal fields (intake's row and the gateway's copies are nulled), every
  sealed copy of it on a topic refuses to open, and no topic holds its markers in clear;
- its timeline stays: the agency's status, the ops events and `python -m services.ops trace`
  show received, decided, delivered and erased;
- the other referral is unaffected: still fetched in clear, its key intact.
"""

from __future__ import annotations

import asyncio
import functools
import json
import secrets
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar
from uuid import UUID, uuid4

import asyncpg
import httpx
import pytest

from services.common import sealing
from shared import ReferralReceived, SealedSubmission
from shared.topics import ASSIGNMENTS_RESPONSES, OPS_EVENTS, REFERRALS_RECEIVED, assignments_topic
from tests.support.infra import ROOT
from tests.support.kafka import Record, collect
from tests.support.pipeline import Pipeline, build_pipeline, running

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]
# The services' consumer groups are shared with earlier tests, which may leave a backlog on the
# topics (referrals published without a router running): the first delivery may wait behind it.
FIRST_DELIVERY_SECONDS = 300

T = TypeVar("T")
OPERATOR_TOKEN = f"op_{secrets.token_urlsafe(24)}"
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


def _eventually(probe: Callable[[], T | None], what: str, timeout: float = 90) -> T:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = probe()
        if found is not None:
            return found
        time.sleep(0.3)
    raise AssertionError(f"timed out waiting for {what}")


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


def _fetch(scenario: Scenario, referral_id: str) -> httpx.Response:
    delivery = scenario.webhooks[referral_id]
    provider = delivery["provider"]
    key = scenario.stack[f"PROVIDER_API_KEY_{provider.upper()}"]
    url = delivery["assignment"]["details_url"]
    return httpx.get(url, headers={"Authorization": f"Bearer {key}"}, timeout=10)


def _erase(pipeline: Pipeline, referral_id: str) -> httpx.Response:
    return httpx.post(
        f"{pipeline.intake.url}/operator/v1/referrals/{referral_id}/erasure",
        json={"operator": "e2e.tester", "reason": "DPO-E2E-1"},
        headers={"Authorization": f"Bearer {OPERATOR_TOKEN}"},
        timeout=10,
    )


@pytest.fixture(scope="module")
def scenario(
    stack_env: dict[str, str],
    tmp_path_factory: pytest.TempPathFactory,
    public_cases: list[dict[str, Any]],
) -> Iterator[Scenario]:
    workdir: Path = tmp_path_factory.mktemp("erasure")
    pipeline = build_pipeline(stack_env, workdir, INTAKE_OPERATOR_TOKEN=OPERATOR_TOKEN)
    for p in PROVIDERS:
        pipeline.gateway.env[f"GATEWAY_{p.upper()}_DELIVERY"] = "thin"
    pipeline.gateway.env["GATEWAY_PUBLIC_URL"] = pipeline.gateway.url
    example = public_cases[0]["submission"]
    with running(pipeline):
        markers = {}
        for _ in range(2):
            marker = f"zq{uuid4().hex[:16]}"
            markers[_submit(pipeline, example, marker)] = marker
        erased, kept = list(markers)
        webhooks = {
            rid: _eventually(
                functools.partial(_webhook, pipeline, rid),
                f"webhook of {rid}",
                timeout=FIRST_DELIVERY_SECONDS,
            )
            for rid in markers
        }
        partial = Scenario(pipeline, stack_env, markers, erased, kept, webhooks, {}, [])
        partial.first_fetch = {rid: _fetch(partial, rid) for rid in markers}
        partial.erasures = [_erase(pipeline, erased), _erase(pipeline, erased)]
        # The gateway hears of the erasure on ops.events.v1 (its fetch answers 410 at once: the
        # key is gone); wait until it has recorded it and forgotten its copies.
        gateway_dsn = stack_env["GATEWAY_DATABASE_URL"]
        query = "SELECT 1 AS done FROM erased_referrals WHERE referral_id = $1"
        _eventually(
            lambda: asyncio.run(_rows(gateway_dsn, query, UUID(erased))) or None,
            "the gateway to record the erasure",
            timeout=FIRST_DELIVERY_SECONDS,
        )
        yield partial


def test_the_thin_webhook_has_no_personal_field_and_the_fetch_gives_the_clear_details(
    scenario: Scenario,
) -> None:
    for rid, marker in scenario.markers.items():
        webhook = scenario.webhooks[rid]
        assert marker not in json.dumps(webhook)
        assert webhook["assignment"]["details_url"].endswith(f"/v1/assignments/{rid}")
        fetched = scenario.first_fetch[rid]
        assert fetched.status_code == 200, fetched.text
        assert fetched.json()["assignment"]["referral"]["victim"]["name"] == f"Victim {marker}"


def test_erasing_answers_erased_then_already_erased(scenario: Scenario) -> None:
    first, second = scenario.erasures
    assert (first.status_code, first.json()["outcome"]) == (200, "erased")
    assert (second.status_code, second.json()["outcome"]) == (200, "already_erased")
    assert second.json()["erased_at"] == first.json()["erased_at"]


def test_after_erasure_the_fetch_is_410_and_the_other_referral_is_still_served(
    scenario: Scenario,
) -> None:
    gone = _fetch(scenario, scenario.erased)
    assert (gone.status_code, gone.json()["errors"][0]["code"]) == (410, "erased")
    assert scenario.markers[scenario.erased] not in gone.text
    kept = _fetch(scenario, scenario.kept)
    assert kept.status_code == 200
    assert scenario.markers[scenario.kept] in kept.text


async def _rows(dsn: str, query: str, *args: Any) -> list[dict[str, Any]]:
    conn = await asyncpg.connect(dsn)
    try:
        return [dict(r) for r in await conn.fetch(query, *args)]
    finally:
        await conn.close()


def test_no_table_holds_the_erased_referrals_personal_fields_and_its_key_is_destroyed(
    scenario: Scenario,
) -> None:
    erased, kept = UUID(scenario.erased), UUID(scenario.kept)
    intake_dsn, gateway_dsn = (
        scenario.stack["INTAKE_DATABASE_URL"],
        scenario.stack["GATEWAY_DATABASE_URL"],
    )
    [row] = asyncio.run(
        _rows(
            intake_dsn, "SELECT submission, erased_at FROM referrals WHERE referral_id = $1", erased
        )
    )
    assert row["submission"] is None
    assert row["erased_at"] is not None
    keys = {
        r["referral_id"]: r
        for r in asyncio.run(
            _rows(
                intake_dsn,
                "SELECT referral_id, wrapped_key, destroyed_at FROM keyvault.data_keys"
                " WHERE referral_id = ANY($1::uuid[])",
                [erased, kept],
            )
        )
    }
    if erased in keys:  # intake made a data key for it: destroyed, and only its own
        assert keys[erased]["wrapped_key"] is None
        assert keys[kept]["wrapped_key"] is not None
    for query in (
        "SELECT received::text AS copy FROM referrals_received WHERE referral_id = $1",
        "SELECT payload::text AS copy FROM assignments WHERE referral_id = $1",
    ):
        for copy in asyncio.run(_rows(gateway_dsn, query, erased)):
            assert copy["copy"] is None
    marker = scenario.markers[scenario.erased]
    for dsn, table in ((intake_dsn, "referrals"), (gateway_dsn, "referrals_received")):
        found = asyncio.run(
            _rows(dsn, f"SELECT 1 FROM {table} t WHERE t::text LIKE $1", f"%{marker}%")
        )
        assert found == [], table


def _topic_records(stack: dict[str, str], topic: str, referral_id: str) -> list[Record]:
    return asyncio.run(
        collect(
            stack["KAFKA_BOOTSTRAP_SERVERS"],
            topic,
            lambda r: r.key == referral_id,
            until=lambda kept: False,
            timeout=4,
        )
    )


def test_no_topic_holds_the_erased_referral_in_clear_and_no_sealed_copy_opens(
    scenario: Scenario,
) -> None:
    kek = sealing.EnvKek.parse(scenario.stack["PII_KEK_KEYS"], scenario.stack["PII_KEK_PRIMARY"])
    provider = scenario.webhooks[scenario.erased]["provider"]
    marker = scenario.markers[scenario.erased]
    records = [
        record
        for topic in (REFERRALS_RECEIVED, assignments_topic(provider), ASSIGNMENTS_RESPONSES)
        for record in _topic_records(scenario.stack, topic, scenario.erased)
    ]
    received = [r for r in records if r.topic == REFERRALS_RECEIVED]
    assert received
    sealed = [
        ReferralReceived.model_validate_json(r.value).submission
        for r in received
        if isinstance(ReferralReceived.model_validate_json(r.value).submission, SealedSubmission)
    ]
    assert sealed, "intake publishes referrals.received.v1 sealed"
    clear = sorted({r.topic for r in records if marker.encode() in r.value})
    assert clear == [], f"the erased referral's personal data is in clear on {clear}"

    async def opens(sealed: SealedSubmission) -> bool:
        pool = await asyncpg.connect(scenario.stack["INTAKE_DATABASE_URL"])
        try:
            await sealing.unseal(pool, kek, UUID(scenario.erased), sealed)
        except sealing.DataKeyDestroyed:
            return False
        finally:
            await pool.close()
        return True

    for submission in sealed:
        assert isinstance(submission, SealedSubmission)
        assert not asyncio.run(opens(submission))


def test_ops_the_status_and_trace_still_show_the_timeline(scenario: Scenario) -> None:
    rid = scenario.erased
    status = httpx.get(
        f"{scenario.pipeline.intake.url}/v1/referrals/{rid}",
        headers={"Authorization": f"Bearer {scenario.pipeline.api_key}"},
        timeout=10,
    ).json()
    states = [e["state"] for e in status["timeline"]]
    assert states[0] == "received"
    assert {"decided", "erased"} <= set(states)
    assert status["status"] == "erased"
    events = _topic_records(scenario.stack, OPS_EVENTS, rid)
    by_service = {(r.json()["service"], r.json()["state"]) for r in events}
    assert {
        ("intake", "received"),
        ("intake", "erased"),
        ("provider_gateway", "delivered"),
        ("provider_gateway", "erased"),
    } <= by_service
    trace = subprocess.run(
        [sys.executable, "-m", "services.ops", "trace", rid],
        cwd=ROOT,
        env=scenario.pipeline.intake.env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert trace.returncode == 0, trace.stderr
    for state in ("received", "decided", "delivered", "erased"):
        assert state in trace.stdout, trace.stdout
    assert scenario.markers[rid] not in trace.stdout
