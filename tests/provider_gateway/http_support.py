"""Helpers of the provider API tests: the API keys, assigning on the fake store, posting answers."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import httpx
from pydantic import SecretStr

from services.provider_gateway.handlers import (
    Context,
    record_decision,
    record_received,
)
from shared import Provider
from tests.provider_gateway.gateway_fakes import FakeReferralStore
from tests.provider_gateway.gateway_samples import API_KEYS, T0, decision_for, received_event

KEYS = {Provider(p): SecretStr(k) for p, k in API_KEYS.items()}


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
