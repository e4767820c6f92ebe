"""The gateway's command line: what it accepts before it touches the database."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import pytest

from services.provider_gateway.__main__ import _parser, main


def test_replay_takes_an_assignment_a_provider_or_a_time() -> None:
    args = _parser().parse_args(
        ["deliveries", "replay", "--provider", "juno", "--since", "2026-11-24T10:00:00"]
    )
    assert (args.provider, args.since) == ("juno", datetime(2026, 11, 24, 10, tzinfo=UTC))
    args = _parser().parse_args(["deliveries", "replay", "--assignment", "asg_x_1"])
    assert args.assignment == "asg_x_1"


def test_replay_without_a_filter_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["deliveries", "replay"])
    assert "--assignment, --provider or --since" in capsys.readouterr().err


def test_an_unknown_provider_is_refused() -> None:
    with pytest.raises(SystemExit):
        _parser().parse_args(["deliveries", "failed", "--provider", "acme"])


def test_missing_settings_stop_with_the_variables_named(
    gateway_env: Callable[..., None], monkeypatch: pytest.MonkeyPatch
) -> None:
    gateway_env()
    monkeypatch.delenv("WEBHOOK_SECRET_NWA")
    with pytest.raises(SystemExit) as stopped:
        main(["migrate"])
    assert "WEBHOOK_SECRET_NWA" in str(stopped.value)
