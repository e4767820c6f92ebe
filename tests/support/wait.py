"""The one way tests wait: poll a condition until it holds, or fail naming what never happened.

Rules kept here:
- a probe returns what it found (anything but None or False) or None/False for "not yet";
  `eventually` returns the first thing found, so a test can wait for a value, not only a fact;
- past `timeout` seconds the wait fails with an AssertionError that names `what` (and the last
  thing the probe saw, when `last` can say it), never returning silently;
- `eventually_async` is the same inside a running event loop (a relay, a consumer under test),
  which a blocking sleep would stall.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Literal, TypeVar

T = TypeVar("T")


def eventually(
    probe: Callable[[], T | Literal[False] | None],
    what: str,
    *,
    timeout: float = 90.0,
    interval: float = 0.3,
    last: Callable[[], object] | None = None,
) -> T:
    """Call `probe` every `interval` s until it finds something; fail after `timeout` s."""
    deadline = time.monotonic() + timeout
    while True:
        found = probe()
        if found is not None and found is not False:
            return found
        if time.monotonic() >= deadline:
            raise AssertionError(_timed_out(what, timeout, last))
        time.sleep(interval)


async def eventually_async(
    probe: Callable[[], T | Literal[False] | None],
    what: str,
    *,
    timeout: float = 10.0,
    interval: float = 0.05,
    last: Callable[[], object] | None = None,
) -> T:
    """`eventually` without blocking the event loop the code under test runs on."""
    deadline = time.monotonic() + timeout
    while True:
        found = probe()
        if found is not None and found is not False:
            return found
        if time.monotonic() >= deadline:
            raise AssertionError(_timed_out(what, timeout, last))
        await asyncio.sleep(interval)


def _timed_out(what: str, timeout: float, last: Callable[[], object] | None) -> str:
    seen = f"; last seen: {last()!r}" if last is not None else ""
    return f"timed out after {timeout:g} s waiting for {what}{seen}"
