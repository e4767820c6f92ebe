"""The bench table's arithmetic and parsing, without running any benchmark.

Rules checked: a figure's ratio is against its same-run baseline, and a missing figure or
baseline gives no ratio and no verdict; the table shows pass/FAIL beside the target; the
`decide --stats` line the router prints is the one the bench reads its rate from.
"""

from __future__ import annotations

import json

from bench.decide_bench import _per_second
from bench.report import Row, at_least, render
from tests.support.cli import run_cli_bytes

ENV = {"date": "2026-11-29T18:00:00+00:00", "host": "h", "cores": 2, "load_average": [1.0],
       "python": "3.11", "kafka": "4.1.1", "postgresql": "15"}  # fmt: skip


def test_a_ratio_is_the_figure_over_its_same_run_baseline() -> None:
    assert Row("1", "x", 300.0, "/s", "floor", 600.0).ratio == 0.5
    assert Row("1", "x", None, "/s", "floor", 600.0).ratio is None
    assert Row("1", "x", 300.0, "/s", "floor", 0.0).ratio is None


def test_a_target_not_measured_has_no_verdict() -> None:
    assert at_least(5.0, 4.0) is True
    assert at_least(3.0, 4.0) is False
    assert at_least(None, 4.0) is None


def test_the_table_shows_the_baseline_ratio_and_verdict() -> None:
    row = Row("1 intake", "accepted/s", 200.0, "/s", "INSERT+COMMIT", 1000.0, ">= 0.5x", False)
    table = render(ENV, [row])
    assert (
        "| 1 intake | accepted/s | 200 /s | INSERT+COMMIT: 1,000 /s | 0.20x | >= 0.5x | FAIL |"
        in table
    )
    assert "2 cores" in table
    assert "Kafka 4.1.1" in table


def test_the_rate_is_read_from_what_decide_stats_prints(
    example_submission: dict[str, object],
) -> None:
    # Through the public command (contract.md), not its module, which may move.
    done = run_cli_bytes(
        "services.router",
        "decide",
        "--stats",
        stdin=json.dumps(example_submission).encode() + b"\n",
    )
    assert done.returncode == 0, done.stderr.decode()
    assert _per_second(done.stderr.decode()) is not None
