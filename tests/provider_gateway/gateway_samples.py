"""Sample referrals, decisions, secrets and keys for the provider gateway's tests."""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from shared import Decision, ReferralReceived

SUBMISSION: dict[str, Any] = {
    "submission_id": "NP-2026-000123",
    "submitted_at": "2026-11-20T10:15:00+00:00",
    "referrer": {
        "kind": "professional",
        "organisation": "Nottinghamshire Police",
        "agency_code": "notts-police",
        "name": "PC A. Example",
        "email": "a.example@police.example",
        "phone": None,
    },
    "victim": {
        "name": "Sam Example",
        "date_of_birth": "1990-05-01",
        "age": None,
        "gender": "female",
        "postcode": "NG7 2AH",
        "local_authority_code": None,
        "safe_contact": {
            "method": "phone",
            "phone": "07700900123",
            "email": None,
            "voicemail_safe": False,
            "safe_times": "weekdays after 6pm",
        },
    },
    "consent": {
        "given": True,
        "recorded_at": "2026-11-20T09:50:00+00:00",
        "lawful_basis_without_consent": None,
    },
    "perpetrator": {"relationship": "stranger"},
    "conduct": {
        "incident_count": 3,
        "first_incident_on": "2026-09-01",
        "last_incident_on": "2026-11-18",
        "behaviours": ["following", "unwanted_contact"],
    },
    "risk": {"level": "medium", "sdash_yes_count": 4},
    "police_crime_reference": "CR-000123-26",
}

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
