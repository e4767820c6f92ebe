"""Personal data that can be found again: a referral whose every personal field is a marker.

Rules kept here:
- each marker is unique to one run, one referral and one field, and valid for its field's
  validation (names are letters, emails are addresses, phones are digits and spaces);
- a marker is searched case-insensitively, and a phone also by its digits alone, so a
  reformatted copy is found as well as a verbatim one;
- a postcode must be a real one to route, so it is shared, not unique: it is searched too.
"""

from __future__ import annotations

import random
import string
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

_RNG = random.SystemRandom()


def run_token() -> str:
    return "".join(_RNG.choice(string.ascii_lowercase) for _ in range(8))


def _digits(n: int) -> str:
    return "".join(_RNG.choice(string.digits) for _ in range(n))


def _phone() -> str:
    d = "9" + _digits(8)  # 079xxxxxxxx: never a timestamp, an offset or a port
    return f"07{d[:3]} {d[3:6]} {d[6:]}"


@dataclass
class MarkedReferral:
    """A submission whose personal fields are all markers; `markers` maps field -> marker."""

    tag: str
    postcode: str
    gender: str
    consent_given: bool = True
    markers: dict[str, str] = field(default_factory=dict)

    def submission(self, token: str) -> dict[str, Any]:
        t = f"zqx{token}{self.tag}"
        dob = date(1960, 1, 1) + timedelta(days=_RNG.randrange(0, 14000))
        m = self.markers
        m.update(
            {
                "referrer.name": f"Zqx{token}{self.tag}refname",
                "referrer.organisation": f"Zqx{token}{self.tag}org Agency",
                "referrer.email": f"{t}.refmail@example.org",
                "referrer.phone": _phone(),
                "victim.name": f"Zqx{token}{self.tag}victim Marker",
                "victim.date_of_birth": dob.isoformat(),
                "victim.safe_contact.phone": _phone(),
                "victim.safe_contact.email": f"{t}.vmail@example.org",
                "victim.safe_contact.safe_times": f"Zqx{token}{self.tag}safetimes after seven",
                "perpetrator.name": f"Zqx{token}{self.tag}perpname",
                "perpetrator.details": f"Zqx{token}{self.tag}perpdetails drives a blue van",
                "police_crime_reference": f"CR-{_digits(6)}-ZQX{token}{self.tag}",
            }
        )
        if not self.consent_given:
            m["consent.lawful_basis_without_consent"] = f"Zqx{token}{self.tag}lawful safeguarding"
        now = datetime.now(UTC) - timedelta(minutes=1)
        return {
            "submission_id": f"OPS-{token}-{self.tag}",
            "submitted_at": now.isoformat(),
            "referrer": {
                "kind": "professional",
                "organisation": m["referrer.organisation"],
                "agency_code": "notts-police",
                "name": m["referrer.name"],
                "email": m["referrer.email"],
                "phone": m["referrer.phone"],
            },
            "victim": {
                "name": m["victim.name"],
                "date_of_birth": m["victim.date_of_birth"],
                "gender": self.gender,
                "postcode": self.postcode,
                "safe_contact": {
                    "method": "phone",
                    "phone": m["victim.safe_contact.phone"],
                    "email": m["victim.safe_contact.email"],
                    "voicemail_safe": False,
                    "safe_times": m["victim.safe_contact.safe_times"],
                },
            },
            "consent": {
                "given": self.consent_given,
                "recorded_at": now.isoformat(),
                "lawful_basis_without_consent": m.get("consent.lawful_basis_without_consent"),
            },
            "perpetrator": {
                "relationship": "stranger",
                "name": m["perpetrator.name"],
                "details": m["perpetrator.details"],
            },
            "conduct": {
                "incident_count": 3,
                "first_incident_on": "2026-01-05",
                "last_incident_on": "2026-01-20",
                "behaviours": ["following", "unwanted_contact"],
            },
            "risk": {"level": "medium", "sdash_yes_count": 4},
            "police_crime_reference": m["police_crime_reference"],
        }


def needles(markers: dict[str, str]) -> dict[str, str]:
    """What to search for: each marker lowercased, and each phone's digits alone."""
    out: dict[str, str] = {}
    for name, value in markers.items():
        out[name] = value.lower()
        if name.endswith("phone"):
            out[f"{name} (digits)"] = "".join(c for c in value if c.isdigit())
    return out


def postcode_needles(postcode: str) -> dict[str, str]:
    compact = postcode.replace(" ", "")
    return {f"postcode {postcode}": postcode.lower(), f"postcode {compact}": compact.lower()}


def find(needles_: dict[str, str], where: str, haystack: str) -> list[str]:
    """`where: field` for each needle found in the haystack."""
    text = haystack.lower()
    return [f"{where}: {name}" for name, needle in needles_.items() if needle in text]
