"""Kafka topic names: the public interface of contract v1 (../shared/contract.md).

Names are fixed for v1; add topics freely, rename or remove none without a v2.

Identity topics (contract additions): `referrals.submitted.<agency>.v1` and
`assignments.responses.<provider>.v1`. The broker's ACLs let only that agency's (provider's)
principal write its topic, so the topic names the writer; the consumers read the identity
from the topic name, never from a header or the body. An identity is a lower-case slug
(letters, digits, inner hyphens), so the name always has exactly four dot-separated parts.
"""

from __future__ import annotations

import re
from typing import Final

REFERRALS_SUBMITTED: Final = "referrals.submitted.v1"
REFERRALS_RECEIVED: Final = "referrals.received.v1"
REFERRALS_REJECTED: Final = "referrals.rejected.v1"
REFERRALS_DECIDED: Final = "referrals.decided.v1"
ASSIGNMENTS_RESPONSES: Final = "assignments.responses.v1"
OPS_EVENTS: Final = "ops.events.v1"
OPS_ALERTS: Final = "ops.alerts.v1"
OPS_DEADLETTER: Final = "ops.deadletter.v1"

PROVIDER_CODES: Final = ("nwa", "juno", "equation")


def assignments_topic(provider: str) -> str:
    """The per-provider assignment topic, `assignments.<provider>.v1`."""
    if provider not in PROVIDER_CODES:
        raise ValueError(f"unknown provider {provider!r}; expected one of {PROVIDER_CODES}")
    return f"assignments.{provider}.v1"


ALL_TOPICS: Final[tuple[str, ...]] = (
    REFERRALS_SUBMITTED,
    REFERRALS_RECEIVED,
    REFERRALS_REJECTED,
    REFERRALS_DECIDED,
    *(assignments_topic(p) for p in PROVIDER_CODES),
    ASSIGNMENTS_RESPONSES,
    OPS_EVENTS,
    OPS_ALERTS,
    OPS_DEADLETTER,
)


# A lower-case slug of at most 63 characters; no dots, so it is one segment of a topic name.
# (No `{m,n}` quantifier: FastStream reads braces in a subscription pattern as parameters.)
IDENTITY_RE: Final = r"[a-z0-9](?:[a-z0-9-]*[a-z0-9])?"
_IDENTITY = re.compile(rf"^{IDENTITY_RE}$")
# Subscription patterns (aiokafka matches them against every topic the cluster lists).
SUBMISSIONS_TOPIC_PATTERN: Final = rf"^referrals\.submitted\.(?P<agency>{IDENTITY_RE})\.v1$"
RESPONSES_TOPIC_PATTERN: Final = rf"^assignments\.responses\.(?P<provider>{IDENTITY_RE})\.v1$"
_SUBMISSIONS = re.compile(SUBMISSIONS_TOPIC_PATTERN)
_RESPONSES = re.compile(RESPONSES_TOPIC_PATTERN)


def is_identity(value: str) -> bool:
    """Whether `value` can name an agency or provider in a topic (a slug of <= 63 chars)."""
    return len(value) <= 63 and _IDENTITY.match(value) is not None


def submissions_topic(agency: str) -> str:
    """The agency's own submissions topic, `referrals.submitted.<agency>.v1`."""
    if not is_identity(agency):
        raise ValueError(f"agency id {agency!r} is not a lower-case slug (letters, digits, -)")
    return f"referrals.submitted.{agency}.v1"


def responses_topic(provider: str) -> str:
    """The provider's own responses topic, `assignments.responses.<provider>.v1`."""
    if provider not in PROVIDER_CODES:
        raise ValueError(f"unknown provider {provider!r}; expected one of {PROVIDER_CODES}")
    return f"assignments.responses.{provider}.v1"


def agency_of_topic(topic: str) -> str | None:
    """The agency a per-agency submissions topic belongs to; None for any other topic."""
    match = _SUBMISSIONS.match(topic)
    return match["agency"] if match and len(match["agency"]) <= 63 else None


def provider_of_topic(topic: str) -> str | None:
    """The identity named by a per-provider responses topic; None for any other topic.

    Not checked against PROVIDER_CODES: the consumer refuses an unknown one with a reason.
    """
    match = _RESPONSES.match(topic)
    return match["provider"] if match and len(match["provider"]) <= 63 else None
