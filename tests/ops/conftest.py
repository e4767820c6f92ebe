"""The ops tests' shared run of the real pipeline: built once for this package, stopped after it.

Package scope, not session: the pipeline's consumers use the services' own group ids, so it must
not outlive these tests and steal partitions from the next pipeline another package starts.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.ops.scenario import Run, run_scenario
from tests.support.pipeline import Pipeline, build_pipeline, running


@pytest.fixture(scope="package")
def ops_pipeline(
    stack_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Pipeline]:
    workdir: Path = tmp_path_factory.mktemp("ops-pipeline")
    pipeline = build_pipeline(stack_env, workdir)
    # A key of our own: the generated DEMO_AGENCY_API_KEY may begin with "-", which the
    # provisioning command's `--token KEY` then takes for an option.
    pipeline.api_key = f"nsas_ops_{secrets.token_hex(24)}"
    # Retries within a second or two, so the failure paths run inside the test's time.
    # The most talkative level, so the privacy search covers every line a service can log.
    settings = {"GATEWAY_RETRY_SCHEDULE": "1,1,1,1"} | {
        f"{service}_LOG_LEVEL": "DEBUG" for service in ("INTAKE", "ROUTER", "GATEWAY")
    }
    for process in pipeline.all:
        process.env.update(settings)
    with running(pipeline) as started:
        yield started


@pytest.fixture(scope="package")
def ops_run(ops_pipeline: Pipeline, stack_env: dict[str, str]) -> Run:
    return run_scenario(ops_pipeline, stack_env)
