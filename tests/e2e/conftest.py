"""One full pipeline shared by the end-to-end modules of this package.

Starting the four services costs seconds of two busy cores each time, so the modules that can
run on the same pipeline share one (`pipeline`): the pipeline, the personal-data-at-rest, the
Kafka fuzz and the erasure modules (the last on a gateway swapped for thin deliveries while it
runs: `swapped_gateway`). Each test stays independent: it submits its own referrals, with its
own submission ids and markers, and reads only what concerns them.

Package scope, not session: the services use their own fixed consumer groups, so the pipeline
must not outlive this package and steal partitions from services another package starts.
A module that starts services of its own (schemathesis) stops the shared pipeline first.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import pytest

from tests.support.pipeline import Pipeline, SharedPipeline

# The operators' bearer token of the shared intake (the erasure module calls its endpoint).
OPERATOR_TOKEN = f"op_{secrets.token_urlsafe(24)}"


@pytest.fixture(scope="package")
def shared_pipeline(
    stack_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[SharedPipeline]:
    shared = SharedPipeline(
        stack_env,
        tmp_path_factory.mktemp("shared-pipeline"),
        INTAKE_OPERATOR_TOKEN=OPERATOR_TOKEN,
    )
    try:
        yield shared
    finally:
        shared.stop()


@pytest.fixture(scope="module")
def pipeline(shared_pipeline: SharedPipeline) -> Pipeline:
    """The shared pipeline, running."""
    return shared_pipeline.get()
