"""The providers' API behind the shared HTTP edge: size limit, auth first, HEAD, 503, OpenAPI."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any
from uuid import UUID

import httpx
import pytest
from fastapi import FastAPI
from pydantic import SecretStr

from services.provider_gateway.api import add_provider_api
from services.provider_gateway.domain import SlaPolicy
from services.provider_gateway.handlers import Context, record_decision, record_received
from shared import Provider
from tests.provider_gateway.gateway_fakes import FakeFetchAudit, FakeReferralStore, clear_only
from tests.provider_gateway.gateway_samples import API_KEYS, T0, decision_for, received_event

KEYS = {Provider(p): SecretStr(k) for p, k in API_KEYS.items()}
LIMIT = 64 * 1024


class DownStore:
    """A store whose database cannot be reached (asyncpg raises OSError on connect)."""

    @asynccontextmanager
    async def referral(self, _referral_id: UUID) -> AsyncIterator[Any]:
        raise ConnectionRefusedError(111, "Connect call failed")
        yield  # pragma: no cover


@pytest.fixture
def ctx() -> Context:
    return Context(sla=SlaPolicy(), channels=dict.fromkeys(Provider, ("kafka",)), now=lambda: T0)


def _app(store: Any, ctx: Context) -> FastAPI:
    app = FastAPI()
    add_provider_api(
        app,
        KEYS,
        lambda: store,
        ctx,
        max_body_bytes=LIMIT,
        fetches=FakeFetchAudit,
        opener=clear_only,
    )
    return app


@asynccontextmanager
async def _client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as c:
        yield c


def _auth(scheme: str = "Bearer") -> dict[str, str]:
    return {"Authorization": f"{scheme} {API_KEYS['juno']}"}


async def test_a_huge_body_is_413_before_authentication_or_parsing(
    ctx: Context, referral_id: UUID
) -> None:
    async with _client(_app(FakeReferralStore(), ctx)) as client:
        huge = b"[" + b"0," * (10 * 1024 * 1024) + b"0]"
        response = await client.post(f"/v1/assignments/{referral_id}/response", content=huge)
    assert response.status_code == 413
    assert response.json()["errors"][0]["field"] == "body"


async def test_an_oversized_chunked_body_is_413(ctx: Context, referral_id: UUID) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(100):
            yield b" " * 1024

    async with _client(_app(FakeReferralStore(), ctx)) as client:
        response = await client.post(
            f"/v1/assignments/{referral_id}/response", content=chunks(), headers=_auth()
        )
    assert response.status_code == 413


async def test_an_anonymous_invalid_body_is_401_not_422(ctx: Context, referral_id: UUID) -> None:
    async with _client(_app(FakeReferralStore(), ctx)) as client:
        for content in (b"{not json", b'{"status": "maybe"}'):
            response = await client.post(f"/v1/assignments/{referral_id}/response", content=content)
            assert response.status_code == 401
            assert response.json()["errors"][0]["field"] == "Authorization"


async def test_the_bearer_scheme_is_case_insensitive_and_head_works_like_get(
    ctx: Context, referral_id: UUID
) -> None:
    store = FakeReferralStore()
    async with store.referral(referral_id) as tx:
        await record_received(tx, received_event(referral_id), ctx)
        await record_decision(tx, decision_for(referral_id, "juno"), ctx)
    async with _client(_app(store, ctx)) as client:
        path = f"/v1/assignments/{referral_id}"
        get = await client.get(path, headers=_auth("bearer"))
        head = await client.head(path, headers=_auth("BEARER"))
    assert get.status_code == 200
    assert (head.status_code, head.content) == (200, b"")
    assert head.headers["content-length"] == get.headers["content-length"]


async def test_an_unreachable_database_is_503_with_retry_after(
    ctx: Context, referral_id: UUID
) -> None:
    async with _client(_app(DownStore(), ctx)) as client:
        response = await client.get(f"/v1/assignments/{referral_id}", headers=_auth())
    assert response.status_code == 503
    assert int(response.headers["retry-after"]) > 0
    assert response.json()["errors"][0]["code"] == "unavailable"


async def test_the_openapi_document_describes_error_bodies_and_bearer_auth(ctx: Context) -> None:
    async with _client(_app(FakeReferralStore(), ctx)) as client:
        spec = (await client.get("/openapi.json")).json()
    assert "HTTPValidationError" not in spec["components"]["schemas"]
    assert spec["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"
    answer = spec["paths"]["/v1/assignments/{referral_id}/response"]["post"]
    assert answer["security"] == [{"HTTPBearer": []}]
    for status in ("400", "401", "403", "404", "409", "413", "422", "503"):
        schema = answer["responses"][status]["content"]["application/json"]["schema"]
        assert schema == {"$ref": "#/components/schemas/ErrorBody"}, status
