"""Intake's HTTP API against the real PostgreSQL: authentication, isolation, idempotency, limits."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from typing import Any
from uuid import uuid4

import pytest
from fastapi.testclient import TestClient

from services.intake.app import create_app
from services.intake.config import IntakeSettings
from tests.support.cli import cli_output
from tests.support.infra import service_env

pytestmark = pytest.mark.integration


def _admin(env: dict[str, str], *args: str) -> str:
    return cli_output("services.intake", *args, env=env, timeout=60)


@pytest.fixture(scope="module")
def agencies(stack_env: dict[str, str]) -> dict[str, str]:
    """Two agencies with a key each: name -> bearer token."""
    env = service_env(stack_env)
    tokens = {}
    for agency in ("test-agency-a", "test-agency-b"):
        token = f"t_{secrets.token_urlsafe(24)}"
        _admin(env, "agency-add", agency, agency)
        _admin(env, "key-create", agency, "--token", token)
        tokens[agency] = token
    return tokens


@pytest.fixture(scope="module")
def client(
    stack_env: dict[str, str], monkeypatch_module: pytest.MonkeyPatch
) -> Iterator[TestClient]:
    for key, value in stack_env.items():
        monkeypatch_module.setenv(key, value)
    monkeypatch_module.setenv("INTAKE_MAX_BODY_BYTES", "16384")
    with TestClient(create_app(IntakeSettings())) as test_client:  # lifespan: pool + migrations
        yield test_client


@pytest.fixture(scope="module")
def monkeypatch_module() -> Iterator[pytest.MonkeyPatch]:
    with pytest.MonkeyPatch.context() as mp:
        yield mp


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _fresh(example: dict[str, Any]) -> dict[str, Any]:
    return example | {"submission_id": f"T-{uuid4().hex[:12]}"}


def test_a_request_without_a_key_is_refused_with_401(
    client: TestClient, example_submission: dict[str, Any]
) -> None:
    response = client.post("/v1/referrals", json=_fresh(example_submission))
    assert response.status_code == 401
    assert response.json()["errors"][0]["field"] == "Authorization"


def test_an_unknown_key_is_refused_with_401(
    client: TestClient, example_submission: dict[str, Any]
) -> None:
    response = client.post("/v1/referrals", json=_fresh(example_submission), headers=_auth("nope"))
    assert response.status_code == 401


def test_an_agency_reads_its_own_referral_and_not_another_agencys(
    client: TestClient, agencies: dict[str, str], example_submission: dict[str, Any]
) -> None:
    created = client.post(
        "/v1/referrals", json=_fresh(example_submission), headers=_auth(agencies["test-agency-a"])
    )
    assert created.status_code == 201
    referral_id = created.json()["referral_id"]
    own = client.get(f"/v1/referrals/{referral_id}", headers=_auth(agencies["test-agency-a"]))
    assert own.status_code == 200
    assert own.json()["timeline"][0]["state"] == "received"
    assert "victim" not in own.text
    assert example_submission["victim"]["name"] not in own.text
    other = client.get(f"/v1/referrals/{referral_id}", headers=_auth(agencies["test-agency-b"]))
    assert other.status_code == 404


def test_a_revoked_key_no_longer_works(
    client: TestClient, stack_env: dict[str, str], example_submission: dict[str, Any]
) -> None:
    env = service_env(stack_env)
    token = f"t_{secrets.token_urlsafe(24)}"
    _admin(env, "agency-add", "test-agency-r", "revocation test")
    out = _admin(env, "key-create", "test-agency-r", "--token", token)
    key_id = out.split("key_id=")[1].split()[0]
    assert (
        client.post(
            "/v1/referrals", json=_fresh(example_submission), headers=_auth(token)
        ).status_code
        == 201
    )
    _admin(env, "key-revoke", key_id)
    assert (
        client.post(
            "/v1/referrals", json=_fresh(example_submission), headers=_auth(token)
        ).status_code
        == 401
    )


def test_resubmitting_returns_the_original_and_a_changed_body_conflicts(
    client: TestClient, agencies: dict[str, str], example_submission: dict[str, Any]
) -> None:
    body = _fresh(example_submission)
    headers = _auth(agencies["test-agency-a"])
    first = client.post("/v1/referrals", json=body, headers=headers)
    again = client.post("/v1/referrals", json=body, headers=headers)
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["referral_id"] == first.json()["referral_id"]
    changed = body | {"police_crime_reference": "CR-OTHER"}
    conflict = client.post("/v1/referrals", json=changed, headers=headers)
    assert conflict.status_code == 409
    assert conflict.json()["errors"][0]["field"] == "submission_id"


def test_the_idempotency_key_header_dedupes_across_submission_ids(
    client: TestClient, agencies: dict[str, str], example_submission: dict[str, Any]
) -> None:
    headers = _auth(agencies["test-agency-a"]) | {"Idempotency-Key": uuid4().hex}
    body = _fresh(example_submission)
    first = client.post("/v1/referrals", json=body, headers=headers)
    again = client.post("/v1/referrals", json=body, headers=headers)
    assert again.status_code == 200
    assert again.json()["referral_id"] == first.json()["referral_id"]


def test_an_invalid_submission_gets_422_naming_each_field(
    client: TestClient, agencies: dict[str, str], example_submission: dict[str, Any]
) -> None:
    body = _fresh(example_submission)
    body["victim"] = body["victim"] | {"postcode": "XYZ", "gender": "unknown"}
    response = client.post("/v1/referrals", json=body, headers=_auth(agencies["test-agency-a"]))
    assert response.status_code == 422
    fields = {e["field"] for e in response.json()["errors"]}
    assert {"victim.postcode", "victim.gender"} <= fields
    assert "XYZ" not in response.text


def test_a_body_over_the_limit_gets_413(client: TestClient, agencies: dict[str, str]) -> None:
    response = client.post(
        "/v1/referrals",
        content=b"{" + b" " * 20000 + b"}",
        headers=_auth(agencies["test-agency-a"]) | {"content-type": "application/json"},
    )
    assert response.status_code == 413
    assert response.json()["errors"][0]["field"] == "body"


def test_health_answers_and_readiness_checks_postgres(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.get("/readyz").json()["checks"]["postgres"] is True


def test_the_openapi_document_describes_the_submission(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    assert "/v1/referrals" in spec["paths"]
    assert "ReferralSubmission" in spec["components"]["schemas"]


def test_framework_errors_name_the_part_of_the_request_at_fault(
    client: TestClient, agencies: dict[str, str]
) -> None:
    headers = _auth(agencies["test-agency-a"]) | {"content-type": "application/json"}
    unparseable = client.post("/v1/referrals", content=b"[" * 5000, headers=headers)
    unknown_path = client.get("/v1/nowhere", headers=headers)
    wrong_method = client.delete("/v1/referrals", headers=headers)
    answers = {
        r.status_code: [e["field"] for e in r.json()["errors"]]
        for r in (unparseable, unknown_path, wrong_method)
    }
    assert answers == {400: ["body"], 404: ["path"], 405: ["method"]}
    assert wrong_method.headers["allow"] == "POST"
