"""The providers' HTTP API (read an assignment, answer it), over ASGI, against the in-memory store."""

from __future__ import annotations

from uuid import UUID

import httpx
import pytest

from services.provider_gateway.api import provider_for_key
from services.provider_gateway.domain import SlaPolicy
from services.provider_gateway.handlers import (
    Context,
)
from shared import Provider
from tests.provider_gateway.gateway_fakes import FakeReferralStore
from tests.provider_gateway.gateway_samples import API_KEYS, T0
from tests.provider_gateway.http_support import KEYS, assigned, body, post


@pytest.fixture
def ctx() -> Context:
    return Context(sla=SlaPolicy(), channels=dict.fromkeys(Provider, ("kafka",)), now=lambda: T0)


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
