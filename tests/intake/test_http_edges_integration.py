"""Intake's HTTP edge against the real PostgreSQL: one submission one referral, auth first,
HEAD, the size limit for chunked bodies, and an OpenAPI document that tells the truth."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from typing import Any
from uuid import uuid4

import pytest
from fastapi.testclient import TestClient

from services.common.http_errors import ErrorBody
from services.intake.app import create_app
from services.intake.config import IntakeSettings
from tests.intake.test_http_api_integration import _admin
from tests.support.infra import service_env

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def token(stack_env: dict[str, str]) -> str:
    env = service_env(stack_env)
    token = f"t_{secrets.token_urlsafe(24)}"
    _admin(env, "agency-add", "test-agency-edges", "edges")
    _admin(env, "key-create", "test-agency-edges", "--token", token)
    return token


@pytest.fixture(scope="module")
def client(stack_env: dict[str, str]) -> Iterator[TestClient]:
    with pytest.MonkeyPatch.context() as mp:
        for key, value in stack_env.items():
            mp.setenv(key, value)
        mp.setenv("INTAKE_MAX_BODY_BYTES", "16384")
        with TestClient(create_app(IntakeSettings())) as test_client:
            yield test_client


def _auth(token: str, **extra: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", **extra}


def _fresh(example: dict[str, Any]) -> dict[str, Any]:
    return example | {"submission_id": f"H-{uuid4().hex[:12]}"}


def _post(client: TestClient, body: dict[str, Any], token: str, key: str | None = None) -> Any:
    headers = _auth(token) | ({"Idempotency-Key": key} if key else {})
    return client.post("/v1/referrals", json=body, headers=headers)


def test_k1_then_no_key_then_k2_with_the_same_body_is_one_referral(
    client: TestClient, token: str, example_submission: dict[str, Any]
) -> None:
    body = _fresh(example_submission)
    k1, k2 = uuid4().hex, uuid4().hex
    answers = [
        _post(client, body, token, k1),
        _post(client, body, token),
        _post(client, body, token, k2),
    ]
    assert [a.status_code for a in answers] == [201, 200, 200]
    assert len({a.json()["referral_id"] for a in answers}) == 1


def test_another_body_under_a_used_submission_id_is_409_and_the_original_still_200(
    client: TestClient, token: str, example_submission: dict[str, Any]
) -> None:
    body = _fresh(example_submission)
    first = _post(client, body, token, uuid4().hex)
    changed = _post(client, body | {"police_crime_reference": "CR-OTHER"}, token)
    again = _post(client, body, token)
    assert (first.status_code, changed.status_code, again.status_code) == (201, 409, 200)
    assert changed.json()["errors"][0]["field"] == "submission_id"
    assert again.json()["referral_id"] == first.json()["referral_id"]


def test_a_key_used_for_another_submission_is_409_naming_the_header(
    client: TestClient, token: str, example_submission: dict[str, Any]
) -> None:
    key = uuid4().hex
    assert _post(client, _fresh(example_submission), token, key).status_code == 201
    reused = _post(client, _fresh(example_submission), token, key)
    assert reused.status_code == 409
    assert reused.json()["errors"][0]["field"] == "Idempotency-Key"


def test_a_key_equal_to_another_submissions_id_is_no_conflict(
    client: TestClient, token: str, example_submission: dict[str, Any]
) -> None:
    first = _fresh(example_submission)
    assert _post(client, first, token).status_code == 201
    assert (
        _post(client, _fresh(example_submission), token, first["submission_id"]).status_code == 201
    )


def test_an_anonymous_invalid_body_is_401_before_any_validation(client: TestClient) -> None:
    for headers in ({}, {"Authorization": "Bearer nope"}):
        response = client.post("/v1/referrals", content=b"{not json", headers=headers)
        assert response.status_code == 401
        assert response.json()["errors"][0]["field"] == "Authorization"
    assert client.post("/v1/referrals", json={"x": 1}).status_code == 401


def test_the_bearer_scheme_is_case_insensitive(
    client: TestClient, token: str, example_submission: dict[str, Any]
) -> None:
    for scheme in ("bearer", "BEARER", "BeArEr"):
        headers = {"Authorization": f"{scheme} {token}"}
        response = client.post("/v1/referrals", json=_fresh(example_submission), headers=headers)
        assert response.status_code == 201, scheme


def test_head_answers_like_get_without_a_body(
    client: TestClient, token: str, example_submission: dict[str, Any]
) -> None:
    referral_id = _post(client, _fresh(example_submission), token).json()["referral_id"]
    for path in ("/healthz", f"/v1/referrals/{referral_id}"):
        get, head = client.get(path, headers=_auth(token)), client.head(path, headers=_auth(token))
        assert (head.status_code, head.content) == (200, b"")
        assert head.headers["content-length"] == get.headers["content-length"]


def test_an_oversized_chunked_body_is_413(client: TestClient, token: str) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"submission_id": "'
        for _ in range(40):
            yield b"x" * 1000
        yield b'"}'

    response = client.post(
        "/v1/referrals",
        content=chunks(),
        headers=_auth(token, **{"content-type": "application/json"}),
    )
    assert response.status_code == 413
    assert response.json()["errors"][0]["field"] == "body"


def test_the_openapi_document_describes_the_real_error_bodies_and_bearer_auth(
    client: TestClient, token: str
) -> None:
    spec = client.get("/openapi.json").json()
    assert "HTTPValidationError" not in spec["components"]["schemas"]
    assert spec["components"]["securitySchemes"]["HTTPBearer"] == {
        "type": "http",
        "scheme": "bearer",
        "description": "An agency API key: `Bearer <key>`.",
    }
    expected = {
        ("post", "/v1/referrals"): {"400", "401", "409", "413", "422", "503"},
        ("get", "/v1/referrals/{referral_id}"): {"401", "404", "422", "503"},
    }
    for (method, path), statuses in expected.items():
        operation = spec["paths"][path][method]
        assert operation["security"] == [{"HTTPBearer": []}]
        for status in statuses:
            schema = operation["responses"][status]["content"]["application/json"]["schema"]
            assert schema == {"$ref": "#/components/schemas/ErrorBody"}, (path, status)
    assert "one referral" in spec["paths"]["/v1/referrals"]["post"]["description"]
    invalid = client.post("/v1/referrals", json={"submission_id": 5}, headers=_auth(token))
    assert invalid.status_code == 422
    ErrorBody.model_validate(invalid.json())
