"""`dead_lettered` alerts on `ops.alerts.v1`: every dead letter is seen, a flood is one alert.

Rules kept here:
- per source topic, the first dead letter in a window (`WINDOW_SECONDS`, 60 s) raises an
  alert at once (`count` 1, the dead letter's reason code);
- further dead letters from that topic in the same window are counted, not alerted one by
  one; when the window closes, one alert carries their `count` (and the last reason code), so
  a burst of poison is two alerts a minute per topic however large it is, and none goes
  uncounted;
- an alert carries ids and codes only: service, topic, reason code, count. Never a key;
- an alert's id is derived from its window (`ops_ids.dead_letter_alert_id`: service, topic, the
  window's start, `first` or `flush`), so an alert whose queuing is retried is one alert;
- a held count is flushed by a timer task; if the process stops first, the count is lost but
  each dead letter is still on `ops.deadletter.v1`, which is the record; the alert is the bell.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import structlog

from services.common.ops_ids import dead_letter_alert_id
from shared import AlertKind, OpsAlert, Service

log = structlog.get_logger(__name__)
WINDOW_SECONDS = 60.0


@dataclass
class _Window:
    ends: float
    started: datetime  # on the wall clock: what the window's alert ids are derived from
    held: int = 0
    reason_code: str = ""
    flusher: asyncio.Task[None] | None = None


def _topic_code(topic: str) -> str | None:
    return topic if re.fullmatch(r"[a-z0-9_.:\-]{1,80}", topic) else None


class DeadLetterAlerts:
    """Raises the `dead_lettered` alerts of one service (see the module's rules)."""

    def __init__(
        self,
        service: Service,
        publish: Callable[[OpsAlert], Awaitable[None]],
        *,
        window_seconds: float = WINDOW_SECONDS,
        clock: Callable[[], float] = time.monotonic,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._service = service
        self._publish = publish
        self._window = window_seconds
        self._clock = clock
        self._now = now
        self._windows: dict[str, _Window] = {}

    def _alert(
        self, topic: str, window: _Window, part: str, reason_code: str, count: int
    ) -> OpsAlert:
        return OpsAlert(
            alert_id=dead_letter_alert_id(self._service, topic, window.started, part),
            at=self._now(),
            service=self._service,
            kind=AlertKind.DEAD_LETTERED,
            reason_code=reason_code,
            count=count,
            topic=_topic_code(topic),
        )

    async def dead_lettered(self, topic: str, reason_code: str) -> None:
        now = self._clock()
        window = self._windows.get(topic)
        if window is None or now >= window.ends:
            self._windows[topic] = window = _Window(ends=now + self._window, started=self._now())
            await self._publish(self._alert(topic, window, "first", reason_code, 1))
            return
        window.held += 1
        window.reason_code = reason_code
        if window.flusher is None or window.flusher.done():
            window.flusher = asyncio.create_task(self._flush_at_end(topic, window))

    async def _flush_at_end(self, topic: str, window: _Window) -> None:
        await asyncio.sleep(max(0.0, window.ends - self._clock()))
        await self._flush(topic, window)

    async def _flush(self, topic: str, window: _Window) -> None:
        held, window.held = window.held, 0
        if held:
            try:
                await self._publish(self._alert(topic, window, "flush", window.reason_code, held))
            except Exception as exc:  # noqa: BLE001 - a timer task has no caller to raise to
                log.warning("dead-letter alert not sent", error=type(exc).__name__, count=held)
