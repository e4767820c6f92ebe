"""Kafka topic names: the public interface of contract v1 (../shared/contract.md).

Names are fixed for v1; add topics freely, rename or remove none without a v2.
"""

from __future__ import annotations

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
