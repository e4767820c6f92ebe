"""`decide --jobs N` (services/router/offline/parallel.py): the lines shared among processes,
the answers byte for byte those of one process, in the same order, and the counts the same."""

from __future__ import annotations

import json
import re
from itertools import cycle, islice
from typing import Any

from services.router.offline.parallel import CHUNK_LINES
from tests.router.test_router_cli import run


def varied_lines(cases: list[dict[str, Any]], count: int) -> bytes:
    """`count` lines: the public cases over and over, with a bad line now and then."""
    bad = ["{not json", "", json.dumps({"submission_id": "Q-1"})]
    out = []
    for i, case in enumerate(islice(cycle(cases), count)):
        out.append(bad[i % 3] if i % 997 == 0 else json.dumps(case["submission"]))
    return ("\n".join(out) + "\n").encode()


def counts(stderr: bytes) -> str:
    """The --stats line without its timings and its job count."""
    text = stderr.decode()
    text = re.sub(r"jobs \d+; start-up: .*?; (\d+) lines in [0-9.]+ s \([0-9,]+/s\)", r"\1", text)
    return re.sub(r"engine evaluations \d+; ", "", text)


def test_several_jobs_answer_exactly_as_one_in_the_same_order(
    public_routing_cases: list[dict[str, Any]],
) -> None:
    stdin = varied_lines(public_routing_cases, 2 * CHUNK_LINES + 345)  # three chunks
    one = run(["decide", "--jobs", "1", "--stats"], stdin)
    two = run(["decide", "--jobs", "2", "--stats"], stdin)
    assert one.returncode == two.returncode == 0, two.stderr.decode()
    assert two.stdout == one.stdout
    assert len(two.stdout.splitlines()) == 2 * CHUNK_LINES + 345
    assert b"jobs 2;" in two.stderr
    assert counts(two.stderr) == counts(one.stderr)
    assert "errors 5;" in counts(two.stderr)


def test_a_job_count_that_is_not_a_whole_number_from_one_is_refused() -> None:
    for bad in ("0", "-1", "two"):
        result = run(["decide", "--jobs", bad], b"")
        assert result.returncode == 2
        assert b"--jobs" in result.stderr
        assert b"not a whole number of processes" in result.stderr
