"""The pure rules of erasure and retention (services.intake.domain.erasure, gateway erasure)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import uuid4

import pytest

from services.intake.domain.erasure import (
    CLOSING_STATES,
    ErasureChannel,
    ErasureRequest,
    erased_ops_event,
    request_problems,
    retention_cutoff,
)
from services.provider_gateway.handlers.erasure import is_intake_erasure
from shared import OpsEvent, ReferralState, Service

NOW = datetime(2026, 11, 29, 12, tzinfo=UTC)


@pytest.mark.parametrize("operator", ["j.smith", "Jo Smith", "o'brien-2", "dpo@nsas.example"])
def test_an_operator_is_a_user_name(operator: str) -> None:
    assert request_problems(operator, "DPO-1") == []


@pytest.mark.parametrize("operator", ["", " lead", "<script>", "x" * 81, "tab\there"])
def test_anything_else_as_operator_is_refused_naming_operator(operator: str) -> None:
    assert [p.field for p in request_problems(operator, "DPO-1")] == ["operator"]


@pytest.mark.parametrize("reason", ["", "   ", "two\nlines", "x" * 201, "nul\x00"])
def test_a_reason_is_one_printable_line_of_at_most_200(reason: str) -> None:
    problems = request_problems("j.smith", reason)
    assert [p.field for p in problems] == ["reason"]
    assert reason.strip() == "" or reason not in problems[0].message


def test_the_ops_event_has_a_stable_id_and_a_reason_code_never_the_operators_words() -> None:
    rid = uuid4()
    by_hand = ErasureRequest(rid, "j.smith", "asked by Sam Example", ErasureChannel.HTTP)
    again = ErasureRequest(rid, "a.n.other", "second request", ErasureChannel.CLI)
    job = ErasureRequest(rid, "retention", "retention", ErasureChannel.RETENTION)
    first = erased_ops_event(by_hand, NOW)
    assert first.event_id == erased_ops_event(again, NOW + timedelta(days=1)).event_id
    assert (first.state, first.reason_code) == (ReferralState.ERASED, "operator_request")
    assert erased_ops_event(job, NOW).reason_code == "retention"
    assert "Sam" not in first.model_dump_json()
    assert "j.smith" not in first.model_dump_json()


def test_retention_counts_back_from_now_and_closed_means_taken_on_by_a_provider() -> None:
    assert retention_cutoff(NOW, 90) == NOW - timedelta(days=90)
    assert {"accepted", "contacted"} == CLOSING_STATES


def test_the_gateway_acts_only_on_intakes_erasures() -> None:
    rid = uuid4()

    def event(service: Service, state: ReferralState) -> OpsEvent:
        return OpsEvent(event_id=uuid4(), at=NOW, service=service, state=state, referral_id=rid)

    assert is_intake_erasure(event(Service.INTAKE, ReferralState.ERASED))
    assert not is_intake_erasure(event(Service.PROVIDER_GATEWAY, ReferralState.ERASED))
    assert not is_intake_erasure(event(Service.INTAKE, ReferralState.RECEIVED))
