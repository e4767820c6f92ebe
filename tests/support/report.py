"""Lines a test wants in pytest's terminal summary (shown whatever `-s` or capture says)."""

from __future__ import annotations

LINES: list[str] = []


def report(line: str) -> None:
    """Print `line` now and again in the terminal summary, so CI logs always show it."""
    print(line)
    LINES.append(line)
