"""The one way tests wait: poll a condition until it holds, or fail naming what never happened.

Rules kept here:
- a probe returns what it found (anything but None or False) or None/False for "not yet";
  `eventually` returns the first thing found, so a test can wait for a value, not only a fact;
- past `timeout` seconds the wait fails with an AssertionError that names `what` (and the last
  thing the probe saw, when `last` can say it), never returning silently;
- `eventually_async` is the same inside a running event loop (a relay, a consumer under test),
  which a blocking sleep would stall; its probe may also be a coroutine (a query, a Kafka poll).
  Both keep one schedule (`_tries`): they differ only in how they sleep and call the probe.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import Literal, TypeVar, Union, cast

T = TypeVar("T")

Found = Union[T, Literal[False], None]  # noqa: UP007 - a generic alias


def eventually(
    probe: Callable[[], Found[T]],
    what: str,
    *,
    timeout: float = 90.0,
    interval: float = 0.3,
    last: Callable[[], object] | None = None,
) -> T:
    """Call `probe` every `interval` s until it finds something; fail after `timeout` s."""
    for _ in _tries(what, timeout, last):
        found = probe()
        if found is not None and found is not False:
            return found
        time.sleep(interval)
    raise AssertionError("unreachable")  # _tries raises when the time is up


async def eventually_async(
    probe: Callable[[], Found[T] | Awaitable[Found[T]]],
    what: str,
    *,
    timeout: float = 10.0,
    interval: float = 0.05,
    last: Callable[[], object] | None = None,
) -> T:
    """`eventually` without blocking the event loop the code under test runs on."""
    for _ in _tries(what, timeout, last):
        found = probe()
        if inspect.isawaitable(found):
            found = await found
        if found is not None and found is not False:
            return cast(T, found)
        await asyncio.sleep(interval)
    raise AssertionError("unreachable")


def _tries(what: str, timeout: float, last: Callable[[], object] | None) -> Iterator[int]:
    """One probe a step until `timeout` s have passed since the first, then the failure."""
    deadline = time.monotonic() + timeout
    attempt = 0
    while True:
        yield attempt
        if time.monotonic() >= deadline:
            seen = f"; last seen: {last()!r}" if last is not None else ""
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}{seen}")
        attempt += 1
