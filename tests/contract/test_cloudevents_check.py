"""The topic checker the integration tests use: the CloudEvents SDK and the JSON Schemas judge
each message of ours; foreign messages (other tests' poison) are counted, not judged."""

from __future__ import annotations

import json
from typing import Any
from uuid import uuid4

import pytest

from shared import ReferralReceived, ReferralSubmission
from shared.cloudevents import TYPE_DECIDED, TYPE_RECEIVED, ce_headers
from shared.topics import REFERRALS_RECEIVED
from tests.support.cloudevents_check import CONTRACT, is_ours, problem, validator

Headers = list[tuple[str, bytes]]


def _message(example_submission: dict[str, Any]) -> tuple[Headers, bytes, bytes]:
    submission = ReferralSubmission.model_validate(example_submission)
    referral = ReferralReceived(
        referral_id=uuid4(),
        received_at=submission.submitted_at,
        referrer_agency="notts-police",
        submission=submission,
    )
    rid = str(referral.referral_id)
    headers = ce_headers(
        type=TYPE_RECEIVED, source="urn:nottssas:intake", time=referral.received_at, subject=rid
    )
    encoded = [(k, v.encode()) for k, v in headers.items()]
    return encoded, rid.encode(), referral.model_dump_json().encode()


def test_a_message_as_intake_publishes_it_passes(example_submission: dict[str, Any]) -> None:
    headers, key, value = _message(example_submission)
    assert is_ours(headers)
    assert problem(REFERRALS_RECEIVED, headers, key, value) is None


@pytest.mark.parametrize("missing", ["ce_id", "ce_source", "ce_type", "ce_specversion"])
def test_a_missing_required_attribute_is_not_a_cloudevent(
    example_submission: dict[str, Any], missing: str
) -> None:
    headers, key, value = _message(example_submission)
    found = problem(REFERRALS_RECEIVED, [h for h in headers if h[0] != missing], key, value)
    assert found is not None
    assert found == f"required headers missing: ['{missing}']"


def test_a_wrong_type_or_spec_version_or_time_is_named(example_submission: dict[str, Any]) -> None:
    headers, key, value = _message(example_submission)

    def with_header(name: str, replacement: bytes) -> Headers:
        return [(k, replacement if k == name else v) for k, v in headers]

    wrong_type = problem(
        REFERRALS_RECEIVED, with_header("ce_type", TYPE_DECIDED.encode()), key, value
    )
    assert wrong_type is not None
    assert "ce_type" in wrong_type
    assert problem(REFERRALS_RECEIVED, with_header("ce_specversion", b"0.9"), key, value)
    assert problem(REFERRALS_RECEIVED, with_header("ce_time", b"yesterday"), key, value)


def test_data_that_breaks_the_schema_is_named_by_path_without_its_value(
    example_submission: dict[str, Any],
) -> None:
    headers, key, value = _message(example_submission)
    data = json.loads(value)
    data["submission"]["victim"]["postcode"] = 12345
    del data["referrer_agency"]
    found = problem(REFERRALS_RECEIVED, headers, key, json.dumps(data).encode())
    assert found is not None
    assert "ReferralReceived" in found
    assert "$.submission.victim.postcode" in found
    assert "required" in found
    assert "12345" not in found


def test_a_body_that_is_not_json_fails_the_schema(example_submission: dict[str, Any]) -> None:
    headers, key, _ = _message(example_submission)
    assert problem(REFERRALS_RECEIVED, headers, key, b"\x00not json{") is not None


def test_a_repeated_header_is_refused(example_submission: dict[str, Any]) -> None:
    headers, key, value = _message(example_submission)
    assert problem(REFERRALS_RECEIVED, [*headers, ("ce_id", b"another")], key, value) == (
        "headers repeated: ['ce_id']"
    )


def test_messages_without_one_of_our_sources_are_foreign() -> None:
    assert not is_ours([])
    assert not is_ours([("ce_source", b"urn:agency:notts-police")])
    assert not is_ours([("ce_source", b"\xff\xfe")])
    assert is_ours([("ce_source", b"urn:nottssas:provider_gateway")])


def test_every_topic_we_write_has_a_type_and_a_valid_schema() -> None:
    assert len(CONTRACT) == 10
    for _, schema in CONTRACT.values():
        document = validator(schema).schema
        assert isinstance(document, dict)
        assert document["type"] == "object"
