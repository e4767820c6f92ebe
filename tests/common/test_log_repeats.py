"""The Kafka client's repeated lines: the first of a kind at once, then one count per window."""

from __future__ import annotations

import logging

from services.common.log_repeats import RepeatCollapser


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class Keep(logging.Handler):
    def __init__(self, kept: list[logging.LogRecord]) -> None:
        super().__init__()
        self.kept = kept

    def emit(self, record: logging.LogRecord) -> None:
        self.kept.append(record)


def _record(name: str, msg: str, *args: object) -> logging.LogRecord:
    return logging.LogRecord(name, logging.ERROR, __file__, 1, msg, args, None)


def test_the_first_line_of_a_kind_passes_its_repeats_are_counted_and_reported_once() -> None:
    clock = Clock()
    collapser = RepeatCollapser(window_seconds=60, clock=clock)
    reported: list[logging.LogRecord] = []
    handler = Keep(reported)
    logging.getLogger("aiokafka").addHandler(handler)
    try:
        template = "Unable connect to node with id %s: %s"
        passed = [collapser.filter(_record("aiokafka", template, n, "refused")) for n in range(500)]
        assert passed == [True] + [False] * 499
        assert collapser.filter(_record("aiokafka.conn", "Unable to update metadata from [1]"))
        assert collapser.filter(_record("services.router", template, 1, "x"))  # ours pass
        clock.now = 61.0
        assert collapser.filter(_record("aiokafka", template, 1, "refused"))  # a new window
    finally:
        logging.getLogger("aiokafka").removeHandler(handler)
    assert [r.getMessage() for r in reported] == ["499 similar lines in the last 60 s"]
