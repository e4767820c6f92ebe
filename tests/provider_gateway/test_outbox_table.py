"""The shared outbox's table description: SQL is built only from plain identifiers."""

from __future__ import annotations

import pytest

from services.common.outbox import OutboxTable


@pytest.mark.parametrize(
    "override",
    [{"table": "outbox; DROP TABLE x"}, {"sent_column": "sent at"}, {"attempts_column": "A"}],
)
def test_a_name_that_is_not_a_plain_identifier_is_refused(override: dict[str, str]) -> None:
    with pytest.raises(ValueError, match="not plain SQL identifiers"):
        OutboxTable(channel="c", **override)


def test_the_attempts_column_is_counted_only_when_the_table_has_one() -> None:
    assert "attempts" not in OutboxTable(channel="c").mark_sent_sql
    counted = OutboxTable(channel="c", attempts_column="attempts").mark_sent_sql
    assert "attempts = attempts + 1" in counted
    assert OutboxTable(channel="c").count_attempt_sql is None
    unacknowledged = OutboxTable(channel="c", attempts_column="attempts").count_attempt_sql
    assert unacknowledged is not None
    assert "attempts = attempts + 1" in unacknowledged
    assert "sent_at" not in unacknowledged
