"""Fixtures shared by every test tier.

The real Kafka broker and PostgreSQL are started by the project's scripts the first time an
integration test asks for them (`stack_env`); unit and contract tests never touch them.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.support.infra import ROOT, ensure_infrastructure
from tests.support.report import LINES

CASES = ROOT.parent / "shared" / "cases" / "public-routing-cases.jsonl"


@pytest.fixture(scope="session")
def stack_env() -> dict[str, str]:
    """The environment of the real infrastructure (started if needed; fails if it cannot be)."""
    return ensure_infrastructure()


@pytest.fixture(scope="session")
def public_cases() -> list[dict[str, Any]]:
    if not CASES.exists():
        pytest.fail(
            f"routing cases missing: {CASES} (the handbook folder ../shared must sit beside the repo)"
        )
    return [json.loads(line) for line in CASES.read_text().splitlines() if line.strip()]


@pytest.fixture
def example_submission(public_cases: list[dict[str, Any]]) -> dict[str, Any]:
    """The contract's example submission (a fresh deep copy each time)."""
    copied: dict[str, Any] = json.loads(json.dumps(public_cases[0]["submission"]))
    return copied


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # Integration tests run last, so quick failures show first.
    items.sort(key=lambda item: item.get_closest_marker("integration") is not None)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    # Figures the CI log must show (schemathesis's counts, the Kafka edge fuzzer's, the outage's
    # log lines), whatever -s or capture says.
    if LINES:
        terminalreporter.section("measured")
        for line in LINES:
            terminalreporter.write_line(line)
