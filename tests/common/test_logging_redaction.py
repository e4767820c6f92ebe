"""The logging redaction keeps personal data out of log lines, even when a whole model is logged."""

from __future__ import annotations

import io
import json
import logging
from typing import Any

import pytest
import structlog

from services.common.logging import REDACTED, configure_logging, redact_personal_fields
from shared import ReferralSubmission


@pytest.fixture
def captured(monkeypatch: pytest.MonkeyPatch) -> io.StringIO:
    stream = io.StringIO()
    monkeypatch.setattr("sys.stderr", stream)
    configure_logging("test-service", json=True)
    return stream


def _lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]


def test_personal_keys_are_redacted_at_any_depth() -> None:
    event = {
        "event": "x",
        "referral_id": "r-1",
        "detail": {"victim": {"name": "Sam"}, "n": 3},
        "items": [{"email": "a@b.c", "code": "ok"}],
    }
    out = redact_personal_fields(None, "info", dict(event))
    assert out["referral_id"] == "r-1"
    assert out["detail"] == {"victim": REDACTED, "n": 3}
    assert out["items"] == [{"email": REDACTED, "code": "ok"}]


def test_logging_a_whole_submission_leaks_nothing(
    captured: io.StringIO, example_submission: dict[str, Any]
) -> None:
    submission = ReferralSubmission.model_validate(example_submission)
    structlog.get_logger("t").info("oops, logged a model", model=submission, referral_id="r-9")
    [line] = _lines(captured)
    text = json.dumps(line)
    for secret in (
        "Sam Example",
        "07700900123",
        "a.example@police.example",
        "NG7 2AH",
        "PC A. Example",
    ):
        assert secret not in text
    assert line["referral_id"] == "r-9"
    assert line["service"] == "test-service"


def test_stdlib_loggers_go_through_the_same_json_pipeline(captured: io.StringIO) -> None:
    logging.getLogger("some.library").warning("library says %s", "hello")
    [line] = _lines(captured)
    assert line["event"] == "library says hello"
    assert line["level"] == "warning"
    assert line["service"] == "test-service"
