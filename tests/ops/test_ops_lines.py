"""One readable line per ops message, and plain-text tables.

Rules checked here: a line names time (UTC, ms), service, state or kind, referral, provider and
codes; an invalid message is named by position and size, never by content; tables align.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from uuid import UUID

from services.common.edge import digest
from services.ops.domain import OpsRecord, format_record, render_table
from shared import AlertKind, DeadLetter, OpsAlert, OpsEvent, Provider, ReferralState, Service

RID = UUID("2b0c0000-0000-4000-8000-000000000001")
AT = datetime(2026, 11, 20, 10, 15, 0, 120000, tzinfo=UTC)


def _record(topic: str, value: bytes, key: str | None = str(RID)) -> OpsRecord:
    return OpsRecord(topic, 1, 42, key, value, timestamp_ms=1_795_000_000_000)


def test_an_event_line_has_time_service_state_referral_provider_and_codes() -> None:
    event = OpsEvent(
        event_id=RID,
        at=AT,
        service=Service.PROVIDER_GATEWAY,
        state=ReferralState.DELIVERY_ATTEMPTED,
        referral_id=RID,
        provider=Provider.JUNO,
        attempt=2,
        status_code=503,
        latency_ms=12.345,
        reason_code="webhook:http_503",
    )
    line = format_record(_record("ops.events.v1", event.model_dump_json().encode()))
    assert line.startswith("2026-11-20T10:15:00.120Z  provider_gateway  delivery_attempted")
    for part in (f"referral={RID}", "provider=juno", "attempt=2", "status=503"):
        assert part in line
    assert "latency_ms=12.3" in line
    assert "reason=webhook:http_503" in line
    assert "pathway=" not in line, "absent fields are left out"


def test_times_are_printed_in_utc_whatever_zone_the_event_carries() -> None:
    local = AT.astimezone(timezone(timedelta(hours=5)))
    event = OpsEvent(event_id=RID, at=local, service=Service.INTAKE, state=ReferralState.RECEIVED)
    line = format_record(_record("ops.events.v1", event.model_dump_json().encode()))
    assert line.startswith("2026-11-20T10:15:00.120Z")


def test_an_alert_line_names_its_kind_and_severity() -> None:
    alert = OpsAlert(
        alert_id=RID,
        at=AT,
        service=Service.PROVIDER_GATEWAY,
        kind=AlertKind.SLA_BREACHED,
        severity="critical",
        referral_id=RID,
        provider=Provider.NWA,
        reason_code="urgent_not_accepted",
    )
    line = format_record(_record("ops.alerts.v1", alert.model_dump_json().encode()))
    assert "alert:sla_breached" in line
    assert "severity=critical" in line
    assert "reason=urgent_not_accepted" in line


def test_a_dead_letter_line_points_at_the_original_by_topic_partition_and_offset() -> None:
    letter = DeadLetter(
        dead_letter_id=RID,
        at=AT,
        service=Service.ROUTER,
        source_topic="referrals.received.v1",
        source_partition=2,
        source_offset=7,
        reason_code="validation_failed",
        error_fields=["referral.submission.victim", "referral.received_at"],
    )
    line = format_record(_record("ops.deadletter.v1", letter.model_dump_json().encode()))
    assert "source=referrals.received.v1[2]@7" in line
    assert "fields=referral.submission.victim,referral.received_at" in line
    assert f"key={RID}" in line


def test_a_dead_letter_key_that_is_not_a_referral_id_is_printed_as_its_digest() -> None:
    letter = DeadLetter(
        dead_letter_id=RID,
        at=AT,
        service=Service.INTAKE,
        source_topic="referrals.submitted.v1",
        reason_code="unparseable_json",
    )
    line = format_record(
        _record("ops.deadletter.v1", letter.model_dump_json().encode(), key="Sam Example")
    )
    assert "Sam" not in line
    assert f"key={digest('Sam Example')}" in line


def test_an_invalid_message_is_named_by_position_and_size_never_by_content() -> None:
    value = b'{"victim": {"name": "Sam Example"}}'
    line = format_record(_record("ops.events.v1", value))
    assert "invalid message" in line
    assert "partition=1 offset=42" in line
    assert f"bytes={len(value)}" in line
    assert "Sam" not in line


def test_a_message_of_another_topic_is_invalid_here() -> None:
    event = OpsEvent(event_id=RID, at=AT, service=Service.INTAKE, state=ReferralState.RECEIVED)
    line = format_record(_record("ops.alerts.v1", event.model_dump_json().encode()))
    assert "invalid message" in line


def test_a_table_aligns_text_left_numbers_right_and_prints_none_as_a_dash() -> None:
    table = render_table(("name", "count"), [("juno", 12), ("equation", None), ("nwa", 3)])
    assert table.splitlines() == [
        "name      count",
        "--------  -----",
        "juno         12",
        "equation      -",
        "nwa           3",
    ]


def test_an_empty_table_still_has_its_header() -> None:
    assert render_table(("state", "referrals"), []).splitlines()[0] == "state  referrals"
