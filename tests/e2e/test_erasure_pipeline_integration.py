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
import json
from collections.abc import Iterator
from typing import Any
from uuid import UUID

import asyncpg
import httpx
import pytest

from services.common import sealing
from shared import ReferralReceived, SealedSubmission
from shared.topics import ASSIGNMENTS_RESPONSES, OPS_EVENTS, REFERRALS_RECEIVED, assignments_topic
from tests.e2e.erasure_scenario import (
    PROVIDERS,
    Scenario,
    fetch,
    rows,
    run_scenario,
    topic_records,
)
from tests.support.cli import run_cli
from tests.support.pipeline import Pipeline, swapped_gateway
from tests.support.wait import eventually

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]


@pytest.fixture(scope="module")
def scenario(
    pipeline: Pipeline, stack_env: dict[str, str], public_cases: list[dict[str, Any]]
) -> Iterator[Scenario]:
    """The scenario on the shared pipeline, its gateway swapped for one sending thin deliveries."""
    thin = {f"GATEWAY_{p.upper()}_DELIVERY": "thin" for p in PROVIDERS}
    with swapped_gateway(pipeline, GATEWAY_PUBLIC_URL=pipeline.gateway.url, **thin) as swapped:
        yield run_scenario(swapped, stack_env, public_cases[0]["submission"])


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
    gone = fetch(scenario, scenario.erased)
    assert (gone.status_code, gone.json()["errors"][0]["code"]) == (410, "erased")
    assert scenario.markers[scenario.erased] not in gone.text
    kept = fetch(scenario, scenario.kept)
    assert kept.status_code == 200
    assert scenario.markers[scenario.kept] in kept.text


def test_no_table_holds_the_erased_referrals_personal_fields_and_its_key_is_destroyed(
    scenario: Scenario,
) -> None:
    erased, kept = UUID(scenario.erased), UUID(scenario.kept)
    intake_dsn, gateway_dsn = (
        scenario.stack["INTAKE_DATABASE_URL"],
        scenario.stack["GATEWAY_DATABASE_URL"],
    )
    [row] = asyncio.run(
        rows(
            intake_dsn, "SELECT submission, erased_at FROM referrals WHERE referral_id = $1", erased
        )
    )
    assert row["submission"] is None
    assert row["erased_at"] is not None
    keys = {
        r["referral_id"]: r
        for r in asyncio.run(
            rows(
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
        for copy in asyncio.run(rows(gateway_dsn, query, erased)):
            assert copy["copy"] is None
    marker = scenario.markers[scenario.erased]
    for dsn, table in ((intake_dsn, "referrals"), (gateway_dsn, "referrals_received")):
        found = asyncio.run(
            rows(dsn, f"SELECT 1 FROM {table} t WHERE t::text LIKE $1", f"%{marker}%")
        )
        assert found == [], table


def test_no_topic_holds_the_erased_referral_in_clear_and_no_sealed_copy_opens(
    scenario: Scenario,
) -> None:
    kek = sealing.EnvKek.parse(scenario.stack["PII_KEK_KEYS"], scenario.stack["PII_KEK_PRIMARY"])
    provider = scenario.webhooks[scenario.erased]["provider"]
    marker = scenario.markers[scenario.erased]
    records = [
        record
        for topic in (REFERRALS_RECEIVED, assignments_topic(provider), ASSIGNMENTS_RESPONSES)
        for record in topic_records(scenario.stack, topic, scenario.erased)
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
    expected = {
        ("intake", "received"),
        ("intake", "erased"),
        ("provider_gateway", "delivered"),
        ("provider_gateway", "erased"),
    }
    seen: set[tuple[str, str]] = set()

    def every_step_announced() -> bool:
        # The gateway's steps leave through its own relay, a moment after intake's timeline
        # shows the erasure: read the topic until they are there.
        events = topic_records(scenario.stack, OPS_EVENTS, rid)
        seen.update((r.json()["service"], r.json()["state"]) for r in events)
        return expected <= seen

    eventually(
        every_step_announced,
        "every step on ops.events.v1",
        timeout=60,
        interval=1.0,
        last=lambda: f"seen {sorted(seen)}",
    )
    trace = run_cli("services.ops", "trace", rid, env=scenario.pipeline.intake.env, timeout=60)
    assert trace.returncode == 0, trace.stderr
    for state in ("received", "decided", "delivered", "erased"):
        assert state in trace.stdout, trace.stdout
    assert scenario.markers[rid] not in trace.stdout
