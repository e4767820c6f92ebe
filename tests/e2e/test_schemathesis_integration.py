"""Schemathesis against both running APIs (intake, provider gateway) on the real Kafka and
PostgreSQL: every check, the OpenAPI examples, fuzzing and the stateful links, time-bounded.

The counts are printed in pytest's terminal summary: `schemathesis: <api> N requests, 0 failures`.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.provider_gateway.gateway_processes import PROVIDERS, publish_referrals
from tests.support.infra import ROOT, service_env
from tests.support.pipeline import SharedPipeline, provision_demo_agency_env
from tests.support.processes import ServiceProcess, free_port
from tests.support.report import report as report_line

pytestmark = pytest.mark.integration

SCHEMATHESIS = Path(sys.executable).parent / "schemathesis"
# Seconds of generation per API: the whole module stays well under two minutes.
BUDGET = {"intake": 35, "gateway": 25}


@pytest.fixture(scope="module")
def apis(
    stack_env: dict[str, str],
    tmp_path_factory: pytest.TempPathFactory,
    shared_pipeline: SharedPipeline,
) -> Iterator[Any]:
    # Intake and a gateway with no router (the gateway test publishes both halves of a referral
    # itself): the package's shared pipeline stops first, as its services use the same groups.
    shared_pipeline.stop()
    workdir = tmp_path_factory.mktemp("schemathesis")
    ports = {"intake": free_port(), "gateway": free_port()}
    env = service_env(
        stack_env,
        INTAKE_HTTP_PORT=str(ports["intake"]),
        GATEWAY_HTTP_PORT=str(ports["gateway"]),
    )
    provision_demo_agency_env(env, stack_env["DEMO_AGENCY_API_KEY"])
    processes = {
        "intake": ServiceProcess(
            "intake", ["services.intake", "serve"], env, ports["intake"], workdir
        ),
        "gateway": ServiceProcess(
            "gateway", ["services.provider_gateway", "serve"], env, ports["gateway"], workdir
        ),
    }
    try:
        for process in processes.values():
            process.start()
        for process in processes.values():
            process.wait_ready("/readyz", timeout=120)
        yield processes, workdir
    finally:
        for process in processes.values():
            process.stop()


def _run(name: str, url: str, token: str, workdir: Path, **env: str) -> dict[str, Any]:
    reports = workdir / name
    done = subprocess.run(
        [
            str(SCHEMATHESIS),
            "run",
            f"{url}/openapi.json",
            "--checks=all",
            f"--header=Authorization: Bearer {token}",
            "--phases=examples,fuzzing,stateful",
            "--max-examples=25",
            f"--max-time={BUDGET[name]}",
            # NUL in text is refused by design (PostgreSQL cannot store it): not sent as "valid".
            "--generation-allow-x00=false",
            "--exclude-path-regex=^/(healthz|readyz|metrics)$",
            "--report=json,har",
            f"--report-dir={reports}",
            "--seed=20261129",
        ],
        cwd=ROOT,
        env={
            **os.environ,
            "PYTHONPATH": str(ROOT),
            "SCHEMATHESIS_HOOKS": "tests.support.schemathesis_hooks",
            **env,
        },
        capture_output=True,
        text=True,
        timeout=BUDGET[name] + 120,
        check=False,
    )
    [report] = reports.glob("json-*.json")
    [har] = reports.glob("har-*.json")
    entries = json.loads(har.read_text())["log"]["entries"]
    return {
        "report": json.loads(report.read_text()),
        "statuses": Counter((e["request"]["method"], e["response"]["status"]) for e in entries),
        "requests": len(entries),
        "output": done.stdout[-6000:],
    }


def _check(result: dict[str, Any], name: str) -> None:
    report = result["report"]
    failures = len(report["failures"]) + len(report["errors"])
    report_line(
        f"schemathesis: {name} {result['requests']} requests, {failures} failures"
        f" ({dict(result['statuses'])})",
    )
    assert failures == 0, result["output"]
    assert report["exit_code"] == 0, result["output"]


def test_schemathesis_finds_nothing_in_the_intake_api(
    apis: Any, stack_env: dict[str, str], request: pytest.FixtureRequest
) -> None:
    processes, workdir = apis
    result = _run("intake", processes["intake"].url, stack_env["DEMO_AGENCY_API_KEY"], workdir)
    _check(result, "intake")
    # Generated submissions reach acceptance, and the link to their status is followed.
    assert result["statuses"][("POST", 201)] > 0, result["output"]
    assert result["statuses"][("GET", 200)] > 0, result["output"]


def test_schemathesis_finds_nothing_in_the_gateway_api(
    apis: Any, stack_env: dict[str, str], request: pytest.FixtureRequest
) -> None:
    processes, workdir = apis
    # One assignment to read and answer: both halves of a referral, as intake and router send.
    [referral_id] = asyncio.run(publish_referrals(stack_env["KAFKA_BOOTSTRAP_SERVERS"], 1))
    provider = PROVIDERS[0]
    token = stack_env[f"PROVIDER_API_KEY_{provider.upper()}"]
    result = _run(
        "gateway",
        processes["gateway"].url,
        token,
        workdir,
        SCHEMATHESIS_REFERRAL_ID=str(referral_id),
    )
    _check(result, "gateway")
    assert result["statuses"][("GET", 200)] > 0, result["output"]
