"""Worked examples of `POST /v1/referrals` bodies, shown in the OpenAPI document.

They are real, acceptable submissions (a test checks each against the contract model), so
that readers can copy them and API testers (schemathesis) reach acceptance with them.
"""

from __future__ import annotations

from typing import Any, Final

_PROFESSIONAL: Final[dict[str, Any]] = {
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

_SELF: Final[dict[str, Any]] = {
    "submission_id": "SELF-2026-000042",
    "submitted_at": "2026-11-21T18:00:00+00:00",
    "referrer": {"kind": "self", "email": "sam@example.org"},
    "victim": {
        "name": "Sam Example",
        "age": 34,
        "gender": "not_stated",
        "postcode": "ng1 1aa",
        "safe_contact": {"method": "email", "email": "sam@example.org"},
    },
    "consent": {"given": True, "recorded_at": "2026-11-21T18:00:00+00:00"},
    "perpetrator": {"relationship": "ex_partner"},
    "conduct": {"incident_count": 2, "behaviours": ["online"]},
    "risk": {"level": None, "sdash_yes_count": None},
}

SUBMISSION_EXAMPLES: Final[dict[str, dict[str, Any]]] = {
    "professional": {
        "summary": "A police referral (the contract's example)",
        "value": _PROFESSIONAL,
    },
    "self_referral": {"summary": "A self-referral with the fewest fields", "value": _SELF},
}
