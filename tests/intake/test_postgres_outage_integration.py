"""Intake while its PostgreSQL is down and just after it comes back (the real server, stopped
and started by the project's own script: this checkout's instance only)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any
from uuid import uuid4

import httpx
import pytest

from tests.support.infra import postgres_script, service_env
from tests.support.pipeline import provision_demo_agency_env
from tests.support.processes import ServiceProcess, free_port
from tests.support.wait import eventually

pytestmark = pytest.mark.integration

# A fast PostgreSQL restart must not leave intake refusing work for long.
RECOVERY_BUDGET_SECONDS = 5.0


def _post(url: str, token: str, body: dict[str, Any]) -> httpx.Response:
    body = body | {"submission_id": f"PG-{uuid4().hex[:12]}"}
    headers = {"Authorization": f"Bearer {token}"}
    return httpx.post(f"{url}/v1/referrals", json=body, headers=headers, timeout=30)


def test_postgres_down_is_503_and_intake_accepts_again_seconds_after_it_returns(
    stack_env: dict[str, str], tmp_path: Path, example_submission: dict[str, Any]
) -> None:
    port = free_port()
    env = service_env(stack_env, INTAKE_HTTP_PORT=str(port))
    token = stack_env["DEMO_AGENCY_API_KEY"]
    provision_demo_agency_env(env, token)
    intake = ServiceProcess("intake", ["services.intake", "serve"], env, port, tmp_path)
    intake.start().wait_ready("/readyz", timeout=120)
    try:
        # Warm the pool: several connections that the restart will break.
        for _ in range(4):
            assert _post(intake.url, token, example_submission).status_code == 201
        postgres_script("stop")
        try:
            down = _post(intake.url, token, example_submission)
            ready = httpx.get(f"{intake.url}/readyz", timeout=30)
        finally:
            postgres_script("start")
        started = time.monotonic()
        statuses: list[int] = []

        def accepted() -> bool:
            statuses.append(_post(intake.url, token, example_submission).status_code)
            return statuses[-1] == 201

        eventually(
            accepted, "intake accepting again", timeout=60, interval=0.2, last=lambda: statuses
        )
        recovery = time.monotonic() - started
        print(f"intake: accepting again {recovery:.1f} s after PostgreSQL restarted ({statuses})")
    finally:
        intake.stop()
    assert down.status_code == 503, down.text
    assert int(down.headers["retry-after"]) > 0
    assert down.json()["errors"][0]["code"] == "unavailable"
    assert (ready.status_code, ready.json()["checks"]["postgres"]) == (503, False)
    assert "Traceback" not in intake.log_path.read_text()
    assert statuses[-1] == 201
    assert recovery < RECOVERY_BUDGET_SECONDS, f"took {recovery:.1f} s: {statuses}"
