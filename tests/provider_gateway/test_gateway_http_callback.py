"""The providers' HTTP API (read an assignment, answer it), over ASGI, against the in-memory store."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any
from uuid import UUID

import httpx
import pytest
from fastapi import FastAPI
from pydantic import SecretStr

from services.provider_gateway.api import add_provider_api, provider_for_key
from services.provider_gateway.domain import SlaPolicy
from services.provider_gateway.handlers import (
    Context,
    record_decision,
    record_received,
    record_response,
)
from shared import Provider, ProviderResponse
from tests.provider_gateway.gateway_fakes import FakeFetchAudit, FakeReferralStore, clear_only
from tests.provider_gateway.gateway_samples import API_KEYS, T0, decision_for, received_event

KEYS = {Provider(p): SecretStr(k) for p, k in API_KEYS.items()}


@pytest.fixture
def store() -> FakeReferralStore:
    return FakeReferralStore()


@pytest.fixture
def ctx() -> Context:
    return Context(sla=SlaPolicy(), channels=dict.fromkeys(Provider, ("kafka",)), now=lambda: T0)


@pytest.fixture
def audit() -> FakeFetchAudit:
    return FakeFetchAudit()


@pytest.fixture
async def client(
    store: FakeReferralStore, ctx: Context, audit: FakeFetchAudit
) -> AsyncIterator[httpx.AsyncClient]:
    app = FastAPI()
    add_provider_api(
        app,
        KEYS,
        lambda: store,
        ctx,
        max_body_bytes=64 * 1024,
        fetches=lambda: audit,
        opener=clear_only,
    )
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as c:
        yield c


async def assigned(store: FakeReferralStore, ctx: Context, rid: UUID, provider: str) -> None:
    async with store.referral(rid) as tx:
        await record_received(tx, received_event(rid), ctx)
        await record_decision(tx, decision_for(rid, provider), ctx)


def body(
    rid: UUID, provider: str = "juno", status: str = "accepted", **extra: Any
) -> dict[str, Any]:
    return {
        "referral_id": str(rid),
        "provider": provider,
        "status": status,
        "at": T0.isoformat(),
        **extra,
    }


async def post(
    client: httpx.AsyncClient,
    rid: UUID,
    payload: dict[str, Any],
    key: str | None = API_KEYS["juno"],
) -> httpx.Response:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return await client.post(f"/v1/assignments/{rid}/response", json=payload, headers=headers)


async def test_a_provider_accepts_its_assignment(
    client: httpx.AsyncClient, store: FakeReferralStore, ctx: Context, referral_id: UUID
) -> None:
    await assigned(store, ctx, referral_id, "juno")
    response = await post(client, referral_id, body(referral_id))
    assert response.status_code == 200
    assert response.json() == {
        "referral_id": str(referral_id),
        "assignment_id": f"asg_{referral_id}_1",
        "provider": "juno",
        "state": "accepted",
        "duplicate": False,
    }
    again = await post(client, referral_id, body(referral_id))
    assert (again.status_code, again.json()["duplicate"]) == (200, True)


@pytest.mark.parametrize("key", [None, "wrong-key-0123456789", API_KEYS["juno"] + "x"])
async def test_no_valid_key_is_401(
    client: httpx.AsyncClient, referral_id: UUID, key: str | None
) -> None:
    response = await post(client, referral_id, body(referral_id), key=key)
    assert response.status_code == 401
    assert response.json()["errors"][0]["field"] == "Authorization"


async def test_a_provider_answers_only_for_itself(
    client: httpx.AsyncClient, store: FakeReferralStore, ctx: Context, referral_id: UUID
) -> None:
    await assigned(store, ctx, referral_id, "juno")
    response = await post(client, referral_id, body(referral_id, "juno"), key=API_KEYS["nwa"])
    assert response.status_code == 403


async def test_another_providers_assignment_is_404(
    client: httpx.AsyncClient, store: FakeReferralStore, ctx: Context, referral_id: UUID
) -> None:
    await assigned(store, ctx, referral_id, "equation")
    response = await post(client, referral_id, body(referral_id, "juno"))
    assert response.status_code == 404


async def test_an_unknown_referral_is_404(client: httpx.AsyncClient, referral_id: UUID) -> None:
    assert (await post(client, referral_id, body(referral_id))).status_code == 404


async def test_an_answer_that_cannot_follow_is_409(
    client: httpx.AsyncClient, store: FakeReferralStore, ctx: Context, referral_id: UUID
) -> None:
    await assigned(store, ctx, referral_id, "juno")
    await post(client, referral_id, body(referral_id, status="contacted"))
    response = await post(client, referral_id, body(referral_id, status="accepted"))
    assert response.status_code == 409


async def test_path_and_body_must_name_the_same_referral(
    client: httpx.AsyncClient, referral_id: UUID
) -> None:
    other = UUID(int=1)
    response = await post(client, referral_id, body(other))
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "referral_id"


async def test_an_invalid_body_names_fields_and_echoes_nothing(
    client: httpx.AsyncClient, referral_id: UUID
) -> None:
    response = await post(
        client, referral_id, body(referral_id, status="maybe", reason="Sam Example at NG7 2AH")
    )
    assert response.status_code == 422
    assert "Sam Example" not in response.text
    assert [e["field"] for e in response.json()["errors"]] == ["body.status"]


def test_keys_are_matched_to_their_provider() -> None:
    assert provider_for_key(KEYS, API_KEYS["equation"]) is Provider.EQUATION
    assert provider_for_key(KEYS, "") is None


async def read(
    client: httpx.AsyncClient, rid: UUID, key: str | None = API_KEYS["juno"]
) -> httpx.Response:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return await client.get(f"/v1/assignments/{rid}", headers=headers)


async def test_a_provider_reads_its_current_assignment(
    client: httpx.AsyncClient, store: FakeReferralStore, ctx: Context, referral_id: UUID
) -> None:
    await assigned(store, ctx, referral_id, "juno")
    response = await read(client, referral_id)
    assert response.status_code == 200
    got = response.json()
    assert (got["assignment_id"], got["provider"], got["round"], got["state"]) == (
        f"asg_{referral_id}_1",
        "juno",
        1,
        "assigned",
    )
    assert got["assignment"]["referral"]["victim"]["name"] == "Sam Example"


@pytest.mark.parametrize("key", [None, "wrong-key-0123456789"])
async def test_reading_without_a_valid_key_is_401(
    client: httpx.AsyncClient,
    store: FakeReferralStore,
    ctx: Context,
    referral_id: UUID,
    key: str | None,
) -> None:
    await assigned(store, ctx, referral_id, "juno")
    response = await read(client, referral_id, key=key)
    assert response.status_code == 401
    assert "Sam Example" not in response.text


async def test_a_provider_cannot_read_another_providers_assignment(
    client: httpx.AsyncClient, store: FakeReferralStore, ctx: Context, referral_id: UUID
) -> None:
    await assigned(store, ctx, referral_id, "equation")
    response = await read(client, referral_id, key=API_KEYS["juno"])
    assert response.status_code == 404
    assert "Sam Example" not in response.text
    assert (await read(client, referral_id, key=API_KEYS["equation"])).status_code == 200


async def test_reading_an_unknown_referral_is_the_same_404(
    client: httpx.AsyncClient, referral_id: UUID
) -> None:
    assert (await read(client, referral_id)).status_code == 404


async def test_after_a_reroute_the_old_provider_is_403_and_only_the_new_one_reads_it(
    client: httpx.AsyncClient, store: FakeReferralStore, ctx: Context, referral_id: UUID
) -> None:
    await assigned(store, ctx, referral_id, "juno")
    async with store.referral(referral_id) as tx:
        declined = ProviderResponse.model_validate(body(referral_id, status="declined"))
        await record_response(tx, declined, channel="kafka", ctx=ctx)
    old = await read(client, referral_id, key=API_KEYS["juno"])
    assert (old.status_code, old.json()["errors"][0]["code"]) == (403, "reassigned")
    assert "Sam Example" not in old.text
    lead = await read(client, referral_id, key=API_KEYS["nwa"])
    assert (lead.json()["assignment_id"], lead.json()["round"]) == (f"asg_{referral_id}_2", 2)


async def test_an_erased_referral_is_410_to_its_provider_and_404_to_others(
    client: httpx.AsyncClient,
    store: FakeReferralStore,
    ctx: Context,
    audit: FakeFetchAudit,
    referral_id: UUID,
) -> None:
    await assigned(store, ctx, referral_id, "juno")
    audit.erased[referral_id] = T0
    gone = await read(client, referral_id, key=API_KEYS["juno"])
    assert (gone.status_code, gone.json()["errors"][0]["code"]) == (410, "erased")
    assert "Sam Example" not in gone.text
    assert (await read(client, referral_id, key=API_KEYS["equation"])).status_code == 404


async def test_each_fetch_of_a_referral_the_provider_had_is_audited_without_its_body(
    client: httpx.AsyncClient,
    store: FakeReferralStore,
    ctx: Context,
    audit: FakeFetchAudit,
    referral_id: UUID,
) -> None:
    await assigned(store, ctx, referral_id, "juno")
    await read(client, referral_id, key=API_KEYS["juno"])
    await read(client, referral_id, key=API_KEYS["juno"])
    await read(client, referral_id, key=API_KEYS["equation"])  # never its own: not audited
    audit.erased[referral_id] = T0
    await read(client, referral_id, key=API_KEYS["juno"])
    assert audit.fetches == [
        (referral_id, "juno", 200),
        (referral_id, "juno", 200),
        (referral_id, "juno", 410),
    ]
