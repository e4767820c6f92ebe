"""CloudEvents binary-mode headers and the topic names of contract v1."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest

from shared import ce_headers, read_ce_headers
from shared.cloudevents import MissingCloudEventHeader
from shared.topics import ALL_TOPICS, assignments_topic
from tests.support.infra import ROOT


def test_headers_carry_every_required_attribute_and_read_back() -> None:
    at = datetime(2026, 11, 20, 10, 15, tzinfo=UTC)
    headers = ce_headers(type="t", source="urn:x", time=at, subject="r-1", id="e-1")
    assert headers["ce_specversion"] == "1.0"
    assert headers["content-type"] == "application/json"
    attrs = read_ce_headers({k: v.encode() for k, v in headers.items()})
    assert (attrs.id, attrs.source, attrs.type, attrs.subject, attrs.time) == (
        "e-1",
        "urn:x",
        "t",
        "r-1",
        at,
    )


def test_reading_headers_without_an_id_fails() -> None:
    with pytest.raises(MissingCloudEventHeader, match="ce_id"):
        read_ce_headers({"ce_source": "s", "ce_type": "t", "ce_specversion": "1.0"})


def test_every_topic_of_the_contract_is_known() -> None:
    text = (ROOT.parent / "shared" / "contract.md").read_text()
    named = set(re.findall(r"`((?:referrals|assignments|ops)\.[a-z<>]+\.v1)`", text))
    named.discard("assignments.<provider>.v1")
    assert named, "no topic names found in the contract"
    assert named <= set(ALL_TOPICS)
    assert {assignments_topic(p) for p in ("nwa", "juno", "equation")} <= set(ALL_TOPICS)


def test_there_is_no_assignment_topic_for_an_unknown_provider() -> None:
    with pytest.raises(ValueError, match="unknown provider"):
        assignments_topic("acme")
