"""Thin deliveries (claim check): the assignment a provider receives without personal details.

Rules kept here: a thin delivery carries the assignment's ids, provider, time, reason and the
routing decision (no personal field: the decision holds codes and routing facts only), and the
link where the provider fetches the details, `<public_url>/v1/assignments/<referral_id>`; the
same assignment always gives the same bytes, so a retried delivery is signed over the same body.
"""

from __future__ import annotations

from shared import Assignment, ThinAssignment


def details_url(public_url: str, assignment: Assignment) -> str:
    return f"{public_url.rstrip('/')}/v1/assignments/{assignment.referral_id}"


def thin_assignment(assignment: Assignment, public_url: str) -> ThinAssignment:
    return ThinAssignment(
        assignment_id=assignment.assignment_id,
        referral_id=assignment.referral_id,
        provider=assignment.provider,
        assigned_at=assignment.assigned_at,
        reason=assignment.reason,
        decision=assignment.decision,
        details_url=details_url(public_url, assignment),
    )


def thin_body(full_body: bytes, public_url: str) -> bytes:
    """The thin delivery's JSON body, from the full assignment's."""
    assignment = Assignment.model_validate_json(full_body)
    return thin_assignment(assignment, public_url).model_dump_json().encode()
