"""The operators' erasure endpoint over ASGI, against an in-memory erasure store.

Rules checked here: only the operators' token opens it (an agency key, none, or no token
configured: 401); the first request erases, later ones say `already_erased`; an unknown id is
404 and a bad operator or reason 422 naming the field, echoing nothing; the OpenAPI document
describes its own bearer scheme and ErrorBody responses. The real store is covered by
test_erasure_integration.py.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any
from uuid import UUID, uuid4

import httpx
import pytest
from fastapi import FastAPI
from pydantic import SecretStr

from services.common.outbox import OutboxMessage
from services.intake.api import add_operator_auth, add_operator_routes
from services.intake.domain.erasure import Erasure, ErasureOutcome, ErasureRequest

TOKEN = "op_0123456789abcdef0123"


class FakeErasures:
    def __init__(self, known: set[UUID]) -> None:
        self.known = known
        self.erased: dict[UUID, datetime] = {}
        self.requests: list[ErasureRequest] = []
        self.announced: list[OutboxMessage] = []

    async def erase(
        self,
        request: ErasureRequest,
        at: datetime,
        announce: Callable[[UUID], Sequence[OutboxMessage]],
    ) -> Erasure:
        rid = request.referral_id
        if rid not in self.known:
            return Erasure(rid, ErasureOutcome.UNKNOWN, None)
        if rid in self.erased:
            return Erasure(rid, ErasureOutcome.ALREADY_ERASED, self.erased[rid])
        self.erased[rid] = at
        self.requests.append(request)
        self.announced += announce(rid)
        return Erasure(rid, ErasureOutcome.ERASED, at)

    async def retention_candidates(self, *_: Any) -> list[UUID]:
        return []


def _client(store: FakeErasures, token: str | None = TOKEN) -> httpx.AsyncClient:
    app = FastAPI()
    add_operator_auth(app, SecretStr(token) if token else None)
    add_operator_routes(app, lambda: store)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://intake")


async def _erase(
    client: httpx.AsyncClient, rid: UUID, token: str | None = TOKEN, **body: Any
) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    payload = {"operator": "j.smith", "reason": "DPO-2026-0114"} | body
    return await client.post(f"/operator/v1/referrals/{rid}/erasure", json=payload, headers=headers)


async def test_the_first_request_erases_and_a_second_says_already_erased() -> None:
    rid = uuid4()
    store = FakeErasures({rid})
    async with _client(store) as client:
        first = await _erase(client, rid)
        second = await _erase(client, rid, operator="someone.else")
    assert (first.status_code, first.json()["outcome"]) == (200, "erased")
    assert (second.status_code, second.json()["outcome"]) == (200, "already_erased")
    assert second.json()["erased_at"] == first.json()["erased_at"]
    [request] = store.requests
    assert (request.operator, request.reason, request.channel.value) == (
        "j.smith",
        "DPO-2026-0114",
        "http",
    )
    [message] = store.announced
    assert (message.topic, message.headers["ce_id"]) == ("ops.events.v1", f"ops:erased:{rid}")
    assert b"DPO-2026" not in message.payload
    assert b"j.smith" not in message.payload


@pytest.mark.parametrize(
    ("token", "configured"),
    [(None, TOKEN), ("nsas_an_agency_key_0123456789", TOKEN), (TOKEN, None)],
)
async def test_only_the_operators_token_opens_it(token: str | None, configured: str | None) -> None:
    rid = uuid4()
    store = FakeErasures({rid})
    async with _client(store, configured) as client:
        response = await _erase(client, rid, token=token)
    assert response.status_code == 401
    assert store.erased == {}


async def test_an_unknown_referral_is_404_naming_the_id() -> None:
    async with _client(FakeErasures(set())) as client:
        response = await _erase(client, uuid4())
    assert response.status_code == 404
    assert response.json()["errors"][0]["field"] == "referral_id"


@pytest.mark.parametrize(
    ("body", "field"),
    [({"operator": "<script>"}, "operator"), ({"reason": "two\nlines"}, "reason")],
)
async def test_a_bad_operator_or_reason_is_422_naming_the_field(
    body: dict[str, str], field: str
) -> None:
    rid = uuid4()
    store = FakeErasures({rid})
    async with _client(store) as client:
        response = await _erase(client, rid, **body)
    assert response.status_code == 422
    assert [e["field"] for e in response.json()["errors"]] == [field]
    assert next(iter(body.values())) not in response.text
    assert store.erased == {}


async def test_the_openapi_document_describes_its_token_and_error_bodies() -> None:
    async with _client(FakeErasures(set())) as client:
        spec = (await client.get("/openapi.json")).json()
    operation = spec["paths"]["/operator/v1/referrals/{referral_id}/erasure"]["post"]
    assert operation["security"] == [{"OperatorToken": []}]
    for status in ("401", "404", "422", "503"):
        schema = operation["responses"][status]["content"]["application/json"]["schema"]
        assert schema == {"$ref": "#/components/schemas/ErrorBody"}, status
