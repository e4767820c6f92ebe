"""The command line's own rules: arguments, and `asyncapi --check`.

Rules checked here: a time without a zone is UTC; `tail` takes only the ops topics; `asyncapi
--check` fails on a stale or missing document and passes on a current one.
"""

from __future__ import annotations

import io
from datetime import UTC, datetime
from pathlib import Path

import pytest

from services.ops import cli
from services.ops.__main__ import _parser, _when
from services.ops.asyncapi import build, dumps


def test_a_time_without_a_zone_is_taken_as_utc() -> None:
    assert _when("2026-11-20T10:00") == datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
    assert _when("2026-11-20T10:00+01:00").utcoffset() is not None


def test_tail_takes_only_the_ops_topics() -> None:
    args = _parser().parse_args(["tail", "ops.alerts.v1", "--limit", "5", "--no-follow"])
    assert (args.topic, args.limit, args.follow) == ("ops.alerts.v1", 5, False)
    with pytest.raises(SystemExit):
        _parser().parse_args(["tail", "referrals.received.v1"])


def test_asyncapi_check_fails_on_a_stale_or_missing_document(tmp_path: Path) -> None:
    stale = tmp_path / "asyncapi.json"
    stale.write_text('{"asyncapi": "3.0.0"}')
    err = io.StringIO()
    assert cli.asyncapi(stale, check=True, out=io.StringIO(), err=err) == 1
    assert "out of date" in err.getvalue()
    assert cli.asyncapi(tmp_path / "none.json", check=True, out=io.StringIO(), err=err) == 1


def test_asyncapi_writes_a_document_that_then_passes_the_check(tmp_path: Path) -> None:
    path = tmp_path / "docs" / "asyncapi.json"
    assert cli.asyncapi(path, check=False, out=io.StringIO(), err=io.StringIO()) == 0
    assert path.read_text() == dumps(build())
    assert cli.asyncapi(path, check=True, out=io.StringIO(), err=io.StringIO()) == 0
