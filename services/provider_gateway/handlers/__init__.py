"""The gateway's use cases: plain functions on the seams in `ports`, the rules in `domain/`.

- `referrals`: assign a referral once both halves are here, take providers' answers, re-route,
  escalate overdue and half-missing referrals (each in the referral's locked transaction);
- `delivery`: one attempt at a claimed delivery (the network call outside the transaction, its
  consequences computed by `domain.consequences` and applied in one), and the worker;
- `erasure`: intake's `erased` event applied once (the referral's details forgotten);
- `ops`: what the gateway tells ops (events, alerts, dead letters), by id and code only.

The referral use cases are re-exported here, the names the entry points import.
"""

from services.provider_gateway.handlers.referrals import (
    Answered,
    Context,
    check_half_missing,
    check_overdue,
    record_decision,
    record_received,
    record_response,
)

__all__ = [
    "Answered",
    "Context",
    "check_half_missing",
    "check_overdue",
    "record_decision",
    "record_received",
    "record_response",
]
