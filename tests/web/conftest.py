"""The real pipeline with the web form, a neutral exit page and one headless chromium for the
browser tests of this package."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, sync_playwright

from tests.ops.scenario import OPS
from tests.support.kafka import end_offsets
from tests.support.pipeline import Pipeline, build_pipeline, running
from tests.web.browser_support import CHROMIUM, neutral_site, run_async


@pytest.fixture(scope="package")
def neutral_url() -> Iterator[str]:
    with neutral_site() as url:
        yield url


@pytest.fixture(scope="package")
def ops_start(stack_env: dict[str, str]) -> dict[object, int]:
    """Where the ops topics ended before the form was used (the privacy test reads on)."""
    return dict(run_async(end_offsets(stack_env["KAFKA_BOOTSTRAP_SERVERS"], OPS)))


@pytest.fixture(scope="package")
def web_pipeline(
    stack_env: dict[str, str],
    tmp_path_factory: pytest.TempPathFactory,
    neutral_url: str,
    ops_start: dict[object, int],
) -> Iterator[Pipeline]:
    workdir: Path = tmp_path_factory.mktemp("web-pipeline")
    pipeline = build_pipeline(stack_env, workdir)
    # One environment dict is shared by the pipeline's processes; intake reads these two.
    pipeline.intake.env["INTAKE_WEB_EXIT_URL"] = neutral_url
    pipeline.intake.env["INTAKE_WEB_RATE_LIMIT"] = "1000/minute"
    with running(pipeline) as started:
        yield started


@pytest.fixture(scope="package")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        # --no-sandbox: CI runs as root, where chromium's sandbox cannot start.
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield launched
        launched.close()
