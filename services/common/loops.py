"""The background loops' common shape: do a batch, pause when idle, back off on failure.

Rules kept here:
- a loop never ends on a failed step: the database or Kafka being away is waited out with
  capped exponential backoff, and the failure is logged by type (never with a payload);
- a step that did work runs again at once; an idle loop waits for its wake-up event (set by
  a PostgreSQL NOTIFY) or its poll interval, whichever comes first, so a missed notification
  only delays work by one interval;
- cancellation (shutdown) is never swallowed.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Mapping

import asyncpg
import structlog

log = structlog.get_logger(__name__)

Step = Callable[[], Awaitable[int]]


async def run_loop(
    name: str,
    step: Step,
    *,
    idle_seconds: float,
    wake: asyncio.Event | None = None,
    max_backoff_seconds: float = 10.0,
) -> None:
    """Run `step` until cancelled; it returns how much it did (0: idle)."""
    wake = wake or asyncio.Event()
    backoff = 0.5
    while True:
        # Cleared before the step, so a wake-up that lands during the step is not lost.
        wake.clear()
        try:
            done = await step()
        except Exception as exc:  # noqa: BLE001 - any failure: wait and try again (see docstring)
            # An error may offer PII-free detail (`log_fields`: counts and codes, never input).
            detail = getattr(exc, "log_fields", None)
            log.warning(
                "background step failed, will retry",
                loop=name,
                error=type(exc).__name__,
                **(detail if isinstance(detail, dict) else {}),
            )
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, max_backoff_seconds)
            continue
        backoff = 0.5
        if done:
            continue
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(wake.wait(), timeout=idle_seconds)


async def listen(pool: asyncpg.Pool, channels: Mapping[str, asyncio.Event]) -> None:
    """Set `channels[name]` on every NOTIFY to `name`; re-listens if the connection drops."""

    def waker(event: asyncio.Event) -> Callable[..., None]:
        return lambda *_: event.set()

    callbacks = {channel: waker(event) for channel, event in channels.items()}
    while True:
        try:
            async with pool.acquire() as conn:
                for channel, callback in callbacks.items():
                    await conn.add_listener(channel, callback)
                lost = asyncio.Event()
                conn.add_termination_listener(waker(lost))
                try:
                    await lost.wait()
                finally:
                    for channel, callback in callbacks.items():
                        with contextlib.suppress(Exception):
                            await conn.remove_listener(channel, callback)
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            log.warning("notification listener lost its connection", error=type(exc).__name__)
        await asyncio.sleep(2)
