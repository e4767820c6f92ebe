"""The check-your-answers rows: each question with the answer given and where to change it."""

from __future__ import annotations

from typing import Any

_GENDER = {
    "female": "Female",
    "male": "Male",
    "non_binary": "Non-binary",
    "other": "Other",
    "not_stated": "Prefer not to say",
}
_METHOD = {
    "phone": "Phone call",
    "text": "Text message",
    "email": "Email",
    "via_referrer": "Through me (the referrer)",
}
RELATIONSHIPS = {
    "ex_partner": "An ex-partner",
    "current_partner": "A current partner",
    "family_member": "A family member",
    "acquaintance": "Someone known to them",
    "colleague": "A colleague",
    "neighbour": "A neighbour",
    "online_contact": "Someone met online",
    "stranger": "A stranger",
    "other": "Someone else",
    "unknown": "Not known",
}
BEHAVIOURS = {
    "following": "Following",
    "loitering": "Waiting or hanging around nearby",
    "unwanted_contact": "Unwanted calls, messages or letters",
    "online": "Online abuse or tracking",
    "gifts": "Unwanted gifts",
    "property_damage": "Damage to property",
    "surveillance": "Watching or spying",
    "third_party_contact": "Contact through other people",
    "threats_of_violence": "Threats of violence",
    "violence": "Violence",
    "other": "Something else",
}


def _dob(a: dict[str, Any]) -> str:
    parts = [a.get(f"victim_dob_{p}") or "" for p in ("day", "month", "year")]
    return "/".join(parts) if any(parts) else ""


def summary_rows(kind: str, a: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(question, answer, change link) in the order the questions were asked."""
    details, contact = "/refer/details", "/refer/safe-contact"
    yes_no = {"yes": "Yes", "no": "No"}
    rows: list[tuple[str, str, str]] = []
    if kind != "self":
        rows += [
            ("Your name", a.get("referrer_name") or "", details),
            ("Your email address", a.get("referrer_email") or "", details),
            ("Your phone number", a.get("referrer_phone") or "", details),
        ]
        if kind == "professional":
            rows.insert(1, ("Your organisation", a.get("referrer_organisation") or "", details))
    who = "Your" if kind == "self" else "Their"
    rows += [
        (f"{who} name", a.get("victim_name") or "", details),
        (f"{who} date of birth", _dob(a), details),
        (f"{who} age", a.get("victim_age") or "", details),
        (f"{who} gender", _GENDER.get(a.get("victim_gender") or "", ""), details),
        (f"{who} postcode", a.get("victim_postcode") or "", details),
        ("Who is doing this", RELATIONSHIPS.get(a.get("relationship") or "", ""), details),
        (
            "What has happened",
            ", ".join(BEHAVIOURS.get(b, b) for b in a.get("behaviours") or []),
            details,
        ),
        ("How many times", a.get("incident_count") or "", details),
        ("Police crime reference", a.get("crime_reference") or "", details),
    ]
    if kind != "self":
        rows.append(
            ("Do they know and agree", yes_no.get(a.get("consent_given") or "", ""), details)
        )
        if kind == "professional" and a.get("consent_given") == "no":
            rows.append(("Lawful basis without consent", a.get("lawful_basis") or "", details))
    rows += [
        ("Safe way to make contact", _METHOD.get(a.get("contact_method") or "", ""), contact),
        ("Safe phone number", a.get("contact_phone") or "", contact),
        ("Safe email address", a.get("contact_email") or "", contact),
        ("Safe to leave a voicemail", yes_no.get(a.get("voicemail_safe") or "", ""), contact),
        ("Safe times to make contact", a.get("safe_times") or "", contact),
    ]
    return rows
