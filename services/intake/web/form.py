"""The web form's questions, and how its answers become a contract ReferralSubmission.

Pure: no I/O. Rules kept here:
- the form asks what the contract needs; the contract model (shared.ReferralSubmission) does
  every check, so the form refuses exactly what the API refuses, with the same field paths;
- each contract field path maps to one form field, on one page; a page shows only the errors
  of its own fields (later pages' questions are not yet answered, so they are filled with
  neutral placeholders while an earlier page is checked);
- a self-referral consents by sending; a member of the public must say the person knows and
  agrees; a professional without consent records the lawful basis;
- the person's own contact details on a self-referral come from the safe-contact page.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from shared import FieldError

Answers = Mapping[str, Any]

AGENCY_BY_KIND = {
    "self": "web-self",
    "public_third_party": "web-public",
    "professional": "web-professional",
}
DETAILS = "details"
CONTACT = "safe-contact"

# Form field -> (page, contract path, message when it is missing).
FIELDS: dict[str, tuple[str, str, str]] = {
    "referrer_name": (DETAILS, "referrer.name", "Enter your name"),
    "referrer_organisation": (DETAILS, "referrer.organisation", "Enter your organisation"),
    "referrer_email": (DETAILS, "referrer.email", "Enter your email address or phone number"),
    "referrer_phone": (DETAILS, "referrer.phone", "Enter your phone number or email address"),
    "victim_name": (DETAILS, "victim.name", "Enter the name"),
    "victim_dob": (DETAILS, "victim.date_of_birth", "Enter a date of birth or an age"),
    "victim_age": (DETAILS, "victim.age", "Enter an age or a date of birth"),
    "victim_gender": (DETAILS, "victim.gender", "Select a gender, or 'Prefer not to say'"),
    "victim_postcode": (DETAILS, "victim.postcode", "Enter a postcode"),
    "relationship": (DETAILS, "perpetrator.relationship", "Select who is doing this"),
    "behaviours": (DETAILS, "conduct.behaviours", "Select what has happened"),
    "incident_count": (DETAILS, "conduct.incident_count", "Enter how many times, as a number"),
    "crime_reference": (DETAILS, "police_crime_reference", "Enter the crime reference"),
    "consent_given": (DETAILS, "consent.given", "Select whether the person agrees"),
    "lawful_basis": (
        DETAILS,
        "consent.lawful_basis_without_consent",
        "Enter the lawful basis for referring without consent, for example safeguarding",
    ),
    "contact_method": (CONTACT, "victim.safe_contact.method", "Select a safe way to make contact"),
    "contact_phone": (CONTACT, "victim.safe_contact.phone", "Enter a safe phone number"),
    "contact_email": (CONTACT, "victim.safe_contact.email", "Enter a safe email address"),
    "voicemail_safe": (CONTACT, "victim.safe_contact.voicemail_safe", "Select yes or no"),
    "safe_times": (CONTACT, "victim.safe_contact.safe_times", "Enter safe times"),
}
_BY_PATH = {path: name for name, (_page, path, _msg) in FIELDS.items()}
# On a self-referral the referrer's own contact details are the safe-contact ones.
_SELF_PATHS = {"referrer.email": "contact_email", "referrer.phone": "contact_phone"}
_MISSING = {
    "missing",
    "string_type",
    "string_too_short",
    "int_type",
    "int_parsing",
    "bool_type",
    "bool_parsing",
    "enum",
}
_ORDER = {name: i for i, name in enumerate(FIELDS)}


def _text(answers: Answers, name: str) -> str | None:
    value = answers.get(name)
    return value.strip() or None if isinstance(value, str) else None


def _dob(answers: Answers) -> str | None:
    parts = [_text(answers, f"victim_dob_{p}") or "" for p in ("year", "month", "day")]
    if not any(parts):
        return None
    year, month, day = parts
    return f"{year:0>4}-{month:0>2}-{day:0>2}"


def _yes_no(answers: Answers, name: str) -> bool | None:
    return {"yes": True, "no": False}.get(answers.get(name) or "")


def build_submission(
    kind: str, answers: Answers, *, submission_id: str, now: datetime, contact_answered: bool
) -> dict[str, Any]:
    """The submission the answers so far describe (to validate with the contract model)."""

    def text(name: str) -> str | None:
        return _text(answers, name)

    contact: dict[str, Any] = {
        "method": text("contact_method"),
        "phone": text("contact_phone"),
        "email": text("contact_email"),
        "voicemail_safe": _yes_no(answers, "voicemail_safe") or False,
        "safe_times": text("safe_times"),
    }
    if not contact_answered:
        contact = {"method": "via_referrer"}
    if kind == "self":
        referrer = {"kind": kind, "name": text("victim_name")} | (
            {"email": contact.get("email"), "phone": contact.get("phone")}
            if contact_answered
            else {"email": "placeholder@example.org"}
        )
        consent: dict[str, Any] = {"given": True, "recorded_at": now.isoformat()}
    else:
        referrer = {
            "kind": kind,
            "name": text("referrer_name"),
            "organisation": text("referrer_organisation") if kind == "professional" else None,
            "email": text("referrer_email"),
            "phone": text("referrer_phone"),
        }
        given = _yes_no(answers, "consent_given")
        consent = {
            "given": given,
            "recorded_at": now.isoformat() if given else None,
            "lawful_basis_without_consent": None if given else text("lawful_basis"),
        }
    behaviours = answers.get("behaviours") or []
    return {
        "submission_id": submission_id,
        "submitted_at": now.isoformat(),
        "referrer": referrer,
        "victim": {
            "name": text("victim_name"),
            "date_of_birth": _dob(answers),
            "age": text("victim_age"),
            "gender": text("victim_gender"),
            "postcode": text("victim_postcode"),
            "safe_contact": contact,
        },
        "consent": consent,
        "perpetrator": {"relationship": text("relationship")},
        "conduct": {
            "incident_count": text("incident_count"),
            "behaviours": list(behaviours) if isinstance(behaviours, list) else [behaviours],
        },
        "police_crime_reference": text("crime_reference"),
    }


def form_errors(kind: str, errors: Sequence[FieldError], page: str | None) -> list[tuple[str, str]]:
    """(form field, message) for the contract's errors on `page` (every page when None)."""
    out: list[tuple[str, str]] = []
    for error in errors:
        path = error.field.split("[", 1)[0]
        name = (_SELF_PATHS.get(path) if kind == "self" else None) or _BY_PATH.get(path)
        if name is None:
            if page is None:
                out.append(("", f"{error.field} {error.message}"))
            continue
        field_page, _path, missing = FIELDS[name]
        if page is not None and field_page != page:
            continue
        message = missing if error.code in _MISSING else f"{_label(name)} {error.message}"
        if (name, message) not in out:
            out.append((name, message))
    # In the order the questions are asked, as the error summary should list them.
    return sorted(out, key=lambda e: _ORDER.get(e[0], -1))


_LABELS = {"victim_dob": "Date of birth", "victim_age": "Age", "victim_postcode": "Postcode"}


def _label(name: str) -> str:
    return _LABELS.get(name) or name.split("_", 1)[-1].replace("_", " ").capitalize()
