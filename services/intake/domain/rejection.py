"""Rejection of a Kafka submission: the fields named, the reason for ops, a stable id.

Rules kept here:
- a rejection names each field at fault (`FieldError`), never its value;
- its id is derived from the message it answers (`source`: topic, partition and offset, and
  the submission id and reason): a redelivered message is rejected under the same id, so
  it is answered once, however often it arrives; a new message gets its own answer;
- ops sees a closed-set reason code (who refused what), never the details.
"""

from __future__ import annotations

from collections.abc import Sequence
from uuid import NAMESPACE_URL, UUID, uuid5

from shared import FieldError

AGENCY_HEADER = "agency-id"


def rejection_id(source: str, submission_id: str | None, reason_code: str) -> UUID:
    """The rejection's id: the same message refused for the same reason, the same id."""
    return uuid5(NAMESPACE_URL, f"urn:nottssas:rejected:{source}:{submission_id}:{reason_code}")


def ops_rejection_id(rejection: UUID) -> UUID:
    """The id of the rejection's `ops.events.v1` copy, derived from the rejection's."""
    return uuid5(NAMESPACE_URL, f"urn:nottssas:ops:rejected:{rejection}")


def rejection_code(errors: Sequence[FieldError]) -> str:
    """A closed-set reason for ops: who refused what, never the details."""
    codes = {e.code for e in errors}
    for code in ("unknown_agency", "conflict"):
        if code in codes:
            return code
    if any(e.field.startswith("headers.") for e in errors):
        return "invalid_envelope"
    return "validation_failed"


def unknown_agency_header() -> FieldError:
    """The `agency-id` header names no configured Kafka producer identity."""
    return FieldError(
        field=f"headers.{AGENCY_HEADER}",
        code="unknown_agency",
        message="is not a configured Kafka producer identity",
    )


def submission_conflict(field: str = "submission_id") -> FieldError:
    """The submission id (or key) was used before for different content."""
    return FieldError(
        field=field, code="conflict", message="was already used for a different submission"
    )


def envelope_error(field: str, code: str) -> FieldError:
    """The refusal of a submission that is not a CloudEvent we accept, naming the header."""
    return FieldError(
        field=field,
        code=code,
        message="is not a CloudEvents 1.0 binary or structured (application/cloudevents+json) envelope",
    )
