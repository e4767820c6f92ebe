"""The providers' read route (`GET /v1/assignments/{referral_id}`, fetch_api) on the fake
stores: a provider reads only its own current assignment; erased is 410; each read audited."""

from __future__ import annotations

from uuid import UUID

import httpx
import pytest

from services.provider_gateway.domain import SlaPolicy
from services.provider_gateway.handlers import (
    Context,
    record_response,
)
from shared import Provider, ProviderResponse
from tests.provider_gateway.gateway_fakes import FakeFetchAudit, FakeReferralStore
from tests.provider_gateway.gateway_samples import API_KEYS, T0
from tests.provider_gateway.http_support import assigned, body


@pytest.fixture
def ctx() -> Context:
    return Context(sla=SlaPolicy(), channels=dict.fromkeys(Provider, ("kafka",)), now=lambda: T0)


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
