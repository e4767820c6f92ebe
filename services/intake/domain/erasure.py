"""Erasure and retention: who may ask, what the audit keeps, and which referrals are due.

Rules kept here:
- an erasure names an operator (a person's user name, or `retention` for the job) and a
  reason (a case reference, never personal data): both short, printable, one line; bad input
  is refused naming the field;
- a referral is erased once: erasing it again is "already erased" and changes nothing;
- the `ops.events.v1` record of an erasure carries a reason code from a closed set
  (`operator_request`, `retention`), never the operator's words; its event id is stable per
  referral, so a repeated announcement is one event;
- retention: a referral is *closed* for intake when a provider has taken it on (its timeline
  has `accepted` or `contacted`): from then on the provider's own records hold the case and
  intake keeps only what its status answers need. A closed referral whose last timeline entry
  is older than the retention period is due. Referrals still open (waiting for a decision, a
  delivery or an answer, or declined without a new provider) are never erased by retention:
  they need a person, and ops sees them as overdue.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Final
from uuid import NAMESPACE_URL, UUID, uuid5

from shared import FieldError, OpsEvent, ReferralState, Service

RETENTION_OPERATOR: Final = "retention"
# Timeline states that close a referral for intake (see the module docstring).
CLOSING_STATES: Final = frozenset({ReferralState.ACCEPTED.value, ReferralState.CONTACTED.value})

_OPERATOR = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 ._@'-]{0,79}$")
_REASON_MAX = 200


class ErasureChannel(StrEnum):
    CLI = "cli"
    HTTP = "http"
    RETENTION = "retention"


class ErasureOutcome(StrEnum):
    ERASED = "erased"
    ALREADY_ERASED = "already_erased"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class ErasureRequest:
    """One request to erase one referral's personal data."""

    referral_id: UUID
    operator: str
    reason: str
    channel: ErasureChannel

    @property
    def reason_code(self) -> str:
        if self.channel is ErasureChannel.RETENTION:
            return "retention"
        return "operator_request"


@dataclass(frozen=True)
class Erasure:
    """What an erasure did: its outcome, and when the referral was (or had been) erased."""

    referral_id: UUID
    outcome: ErasureOutcome
    erased_at: datetime | None


def request_problems(operator: str, reason: str) -> list[FieldError]:
    """The fields of an erasure request that cannot be accepted (never echoing them)."""
    problems = []
    if not _OPERATOR.match(operator):
        problems.append(
            FieldError(
                field="operator",
                code="invalid_operator",
                message="must be a user name: 1-80 letters, digits, spaces or . _ @ ' -",
            )
        )
    if not reason.strip() or len(reason) > _REASON_MAX or not reason.isprintable():
        problems.append(
            FieldError(
                field="reason",
                code="invalid_reason",
                message=f"must be 1-{_REASON_MAX} printable characters on one line",
            )
        )
    return problems


def erased_ops_event(request: ErasureRequest, at: datetime) -> OpsEvent:
    """The PII-free `ops.events.v1` record of an erasure (its id is stable per referral)."""
    return OpsEvent(
        event_id=uuid5(NAMESPACE_URL, f"urn:nottssas:erased:{request.referral_id}"),
        at=at,
        service=Service.INTAKE,
        state=ReferralState.ERASED,
        referral_id=request.referral_id,
        reason_code=request.reason_code,
    )


def retention_cutoff(now: datetime, days: int) -> datetime:
    """Closed referrals whose last timeline entry is before this are due for erasure."""
    return now - timedelta(days=days)
