"""Lines a test wants in pytest's terminal summary (visible without -s), e.g. schemathesis counts."""

from __future__ import annotations

import pytest

LINES: pytest.StashKey[list[str]] = pytest.StashKey()


def report(config: pytest.Config, line: str) -> None:
    config.stash.setdefault(LINES, []).append(line)


def write(terminalreporter: pytest.TerminalReporter, config: pytest.Config) -> None:
    for line in config.stash.get(LINES, []):
        terminalreporter.write_line(line)
