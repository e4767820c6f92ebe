"""Sample referrals, decisions, secrets and keys for the provider gateway's tests."""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from services.intake.api.examples import SUBMISSION_EXAMPLES
from shared import Decision, ReferralReceived

# The contract's example submission, as intake's OpenAPI document shows it (one copy of it).
SUBMISSION: dict[str, Any] = SUBMISSION_EXAMPLES["professional"]["value"]

# A Wednesday morning in November (GMT), so two working days later is Friday.
T0 = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)


def make_secret(fill: bytes = b"k") -> str:
    return "whsec_" + base64.b64encode(fill * 24).decode()


SECRETS = {"nwa": make_secret(b"n"), "juno": make_secret(b"j"), "equation": make_secret(b"e")}
API_KEYS = {
    "nwa": "nwa-key-0123456789abcdef",
    "juno": "juno-key-0123456789abcdef",
    "equation": "equation-key-0123456789abcdef",
}


def received_event(referral_id: UUID, at: datetime = T0) -> ReferralReceived:
    return ReferralReceived.model_validate(
        {
            "referral_id": referral_id,
            "received_at": at,
            "referrer_agency": "notts-police",
            "submission": SUBMISSION,
        }
    )


def decision_for(
    referral_id: UUID,
    provider: str | None = "juno",
    *,
    priority: str = "standard",
    pathway: str = "stalking_advocacy",
    at: datetime = T0,
) -> Decision:
    return Decision.model_validate(
        {
            "referral_id": referral_id,
            "submission_id": SUBMISSION["submission_id"],
            "decided_at": at,
            "rules_version": "2026-11-default",
            "pathway": pathway,
            "provider": provider,
            "priority": priority,
            "locality": {"local_authority_code": "E06000018", "area": "nottingham_city"},
            "trace": [{"rule": "allocation.city", "facts": {"gender": "female"}}],
        }
    )
