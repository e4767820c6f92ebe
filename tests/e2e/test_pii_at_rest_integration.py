"""Issue 14, must-show: personal fields never lie in clear at rest, and the provider still gets
them clear.

Referrals carrying a unique marker in every personal field are POSTed to intake (over HTTP, so
`referrals.submitted.v1`, which agencies write in clear, holds none of them), run through the
real router and gateway to the demo receiver, and then the raw bytes of every file under
Kafka's data directory and PostgreSQL's data directory (pg_wal included, after a CHECKPOINT)
are searched: no marker may be there. The submission ids, which are not personal and not
sealed, are searched too and must be found: the search reads the right files.
Then a referral's data key is destroyed: the provider's read of it answers 410, another
referral still reads clear.
"""

from __future__ import annotations

import random
from datetime import date, timedelta
from typing import Any
from uuid import UUID, uuid4

import asyncpg
import httpx
import pytest

from services.common.sealing import destroy
from tests.support.at_rest import checkpoint, find_in_files, kafka_data_dir, postgres_data_dir
from tests.support.pipeline import Pipeline
from tests.support.pipeline import delivered as delivered_to_provider

pytestmark = pytest.mark.integration

_LETTERS = "ABDEFGHJLNPQRSTUWXYZ"  # a postcode's inward letters


def marked_submission(
    base: dict[str, Any], rng: random.Random
) -> tuple[dict[str, Any], dict[str, str]]:
    """`base` with a fresh unique marker in every personal field; the markers by field."""
    tag = uuid4().hex[:12].upper()
    digits = "".join(rng.choice("0123456789") for _ in range(9))
    born = date(1940, 1, 1) + timedelta(days=rng.randrange(20_000))
    markers = {
        "referrer.organisation": f"ORG{tag}",
        "referrer.name": f"REFNAME{tag}",
        "referrer.email": f"ref{tag.lower()}@example.org",
        "referrer.phone": f"01{digits}",
        "victim.name": f"VICNAME{tag}",
        "victim.date_of_birth": born.isoformat(),
        "victim.postcode": f"NG{rng.randint(30, 99)} {rng.randint(0, 9)}{rng.choice(_LETTERS)}"
        f"{rng.choice(_LETTERS)}",
        "victim.safe_contact.phone": f"07{digits}",
        "victim.safe_contact.email": f"vic{tag.lower()}@example.org",
        "victim.safe_contact.safe_times": f"SAFETIMES{tag}",
        "consent.lawful_basis_without_consent": f"BASIS{tag}",
        "perpetrator.name": f"PERPNAME{tag}",
        "perpetrator.details": f"PERPDETAILS{tag}",
        "police_crime_reference": f"CR{tag}",
    }
    body: dict[str, Any] = {
        **base,
        "submission_id": f"PII-{tag}",
        "referrer": {**base["referrer"], "kind": "professional"},
        "victim": {
            **base["victim"],
            "local_authority_code": "E06000018",  # the random postcode may not exist
            "safe_contact": {**base["victim"]["safe_contact"], "method": "phone"},
        },
        "consent": {**base["consent"], "given": False},
        "perpetrator": dict(base["perpetrator"]),
    }
    for path, value in markers.items():
        *parents, leaf = path.split(".")
        node = body
        for part in parents:
            node = node[part]
        node[leaf] = value
    return body, markers


def _at(document: dict[str, Any], path: str) -> Any:
    node: Any = document
    for part in path.split("."):
        node = node[part]
    return node


def test_no_personal_field_is_in_clear_on_kafka_or_postgres_disk_and_the_provider_gets_it_clear(
    pipeline: Pipeline, example_submission: dict[str, Any]
) -> None:
    rng = random.Random()
    sent: dict[str, tuple[dict[str, Any], dict[str, str]]] = {}
    for _ in range(3):
        body, markers = marked_submission(example_submission, rng)
        response = httpx.post(
            f"{pipeline.intake.url}/v1/referrals",
            json=body,
            timeout=10,
            headers={"Authorization": f"Bearer {pipeline.api_key}"},
        )
        assert response.status_code == 201, response.text
        sent[response.json()["referral_id"]] = (body, markers)

    delivered = delivered_to_provider(pipeline, set(sent))
    assert set(delivered) == set(sent), "not every referral reached the provider"
    for referral_id, (_, markers) in sent.items():
        referral = delivered[referral_id]["assignment"]["referral"]
        for path, marker in markers.items():
            assert _at(referral, path) == marker, f"the provider did not get {path} in clear"

    checkpoint()
    needles: set[bytes] = set()
    for _, markers in sent.values():
        for path, marker in markers.items():
            needles.add(marker.encode())
            if path == "victim.postcode":
                needles.add(marker.replace(" ", "").encode())
    ids = {body["submission_id"].encode() for body, _ in sent.values()}
    kafka, postgres = kafka_data_dir(), postgres_data_dir()
    found = find_in_files([kafka, postgres], needles | ids)

    leaks = {n.decode(): [str(p) for p in found[n]] for n in needles if n in found}
    assert leaks == {}, f"personal fields in clear at rest: {leaks}"
    for submission_id in ids:  # the search reads the right files: the clear ids are there
        places = found.get(submission_id, [])
        assert any(kafka in p.parents for p in places), submission_id
        assert any(postgres in p.parents for p in places), submission_id


def _read(
    pipeline: Pipeline, stack_env: dict[str, str], delivery: dict[str, Any]
) -> httpx.Response:
    provider = delivery["provider"]
    return httpx.get(
        f"{pipeline.gateway.url}/v1/assignments/{delivery['referral_id']}",
        headers={"Authorization": f"Bearer {stack_env[f'PROVIDER_API_KEY_{provider.upper()}']}"},
        timeout=10,
    )


async def test_a_destroyed_data_key_makes_only_that_referral_unreadable(
    pipeline: Pipeline, stack_env: dict[str, str], example_submission: dict[str, Any]
) -> None:
    rng = random.Random()
    sent: dict[str, dict[str, str]] = {}
    for _ in range(2):
        body, markers = marked_submission(example_submission, rng)
        response = httpx.post(
            f"{pipeline.intake.url}/v1/referrals",
            json=body,
            timeout=10,
            headers={"Authorization": f"Bearer {pipeline.api_key}"},
        )
        assert response.status_code == 201, response.text
        sent[response.json()["referral_id"]] = markers
    delivered = delivered_to_provider(pipeline, set(sent))
    erased, kept = sorted(delivered)

    conn = await asyncpg.connect(stack_env["INTAKE_DATABASE_URL"])
    try:
        assert await destroy(conn, UUID(erased)) is True
    finally:
        await conn.close()

    gone = _read(pipeline, stack_env, delivered[erased])
    assert gone.status_code == 410, gone.text
    assert sent[erased]["victim.name"] not in gone.text
    still = _read(pipeline, stack_env, delivered[kept])
    assert still.status_code == 200, still.text
    assert still.json()["assignment"]["referral"]["victim"]["name"] == sent[kept]["victim.name"]
