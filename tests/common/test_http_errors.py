"""The one HTTP error module (`services/common/http_errors.py`), on a bare app.

Rules shown here: every error answer is `ErrorBody`; a 422 names each field the service's way
(the framework's dotted location by default, as the gateway answers; intake's paths into the
submission when it passes its namer); the framework's errors name the request part at fault;
a database that cannot be reached is 503 with `Retry-After`; no answer echoes the input.
"""

from __future__ import annotations

import asyncpg
import httpx
from fastapi import FastAPI
from pydantic import BaseModel

from services.common.http_errors import ErrorBody, FieldNamer, add_error_handlers, located_errors
from services.intake.domain.errors import request_errors


class Answer(BaseModel):
    status: int


def _client(name_fields: FieldNamer = located_errors) -> httpx.AsyncClient:
    app = FastAPI()
    add_error_handlers(app, invalid="the answer is not valid", name_fields=name_fields)

    @app.post("/answers")
    async def answer(body: Answer) -> Answer:
        return body

    @app.get("/down")
    async def down() -> None:
        raise asyncpg.CannotConnectNowError("Sam Example")

    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t")


async def test_a_422_names_the_framework_location_by_default_and_echoes_nothing() -> None:
    async with _client() as client:
        response = await client.post("/answers", json={"status": "Sam Example"})
    assert response.status_code == 422
    body = ErrorBody.model_validate(response.json())
    assert body.detail == "the answer is not valid"
    assert [e.field for e in body.errors] == ["body.status"]
    assert "Sam Example" not in response.text


async def test_a_422_names_fields_the_services_way_when_it_passes_its_namer() -> None:
    async with _client(request_errors) as client:
        response = await client.post("/answers", json={"status": "Sam Example"})
    assert [e["field"] for e in response.json()["errors"]] == ["status"]


async def test_framework_errors_name_the_request_part_at_fault() -> None:
    async with _client() as client:
        unreadable = await client.post("/answers", content=b"{not json")
        unknown = await client.get("/nowhere")
        wrong = await client.delete("/answers")
    assert [unreadable.status_code, unknown.status_code, wrong.status_code] == [422, 404, 405]
    assert unknown.json()["errors"][0] == {
        "field": "path",
        "code": "http_404",
        "message": "Not Found",
    }
    assert wrong.json()["errors"][0]["field"] == "method"
    assert "not json" not in unreadable.text


async def test_an_unreachable_database_is_503_with_retry_after_and_no_detail() -> None:
    async with _client() as client:
        response = await client.get("/down")
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "2"
    assert "Sam Example" not in response.text
