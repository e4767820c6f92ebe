"""Collapses the Kafka client's repeated log lines: the first of a kind, then a count.

While Kafka is down aiokafka writes the same few lines over and over (about 115 a second per
service), which buries everything else and fills the disk. Rules kept here:
- only records of the Kafka client's loggers (`aiokafka`, `kafka`) are collapsed; ours pass;
- a kind of line is its logger, level and message template (the text before its arguments
  are filled in, so "Unable connect to node with id %s" is one kind whatever the node);
- the first line of a kind is written at once, so a change of state shows immediately;
  the rest of that kind within `window_seconds` are counted, not written;
- when a window closes, the next line from the Kafka client writes "N similar lines in the
  last 60 s" for each kind that was held back, so a long outage still shows one count a
  minute; a kind seen again after its window is written again at once.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

COLLAPSED_LOGGERS = ("aiokafka", "kafka")
WINDOW_SECONDS = 60.0


@dataclass
class _Kind:
    ends: float
    held: int = 0


class RepeatCollapser(logging.Filter):
    """A handler filter that writes the first line of a kind and counts its repeats."""

    def __init__(
        self,
        *,
        prefixes: tuple[str, ...] = COLLAPSED_LOGGERS,
        window_seconds: float = WINDOW_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__()
        self._prefixes = prefixes
        self._window = window_seconds
        self._clock = clock
        self._kinds: dict[tuple[str, int, str], _Kind] = {}
        self._lock = threading.Lock()  # aiokafka may log from more than one thread

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "collapsed_count", None) is not None:
            return True
        if not record.name.startswith(self._prefixes):
            return True
        now = self._clock()
        with self._lock:
            due = self._close_windows(now)
            key = (record.name, record.levelno, str(record.msg))
            kind = self._kinds.get(key)
            if kind is None:
                self._kinds[key] = _Kind(ends=now + self._window)
                passed = True
            else:
                kind.held += 1
                passed = False
        for (name, level, _template), held in due:
            logging.getLogger(name).log(
                level,
                "%d similar lines in the last %d s",
                held,
                round(self._window),
                extra={"collapsed_count": held},
            )
        return passed

    def _close_windows(self, now: float) -> list[tuple[tuple[str, int, str], int]]:
        due = []
        for key, kind in list(self._kinds.items()):
            if now >= kind.ends:
                del self._kinds[key]
                if kind.held:
                    due.append((key, kind.held))
        return due
