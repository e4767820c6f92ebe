"""The form's pages against fakes at its seams: headers, CSRF, honeypot, rate limit, body
size, the drafts (encrypted, expiring, deleted on exit and on sending) and the hand-over to
the acceptance use case."""

from __future__ import annotations

from datetime import timedelta

import pytest
from pydantic import ValidationError

from services.common.settings import missing_settings_message
from services.intake.config import IntakeSettings
from services.intake.web.pages import COOKIE
from tests.web.form_app import EXIT, FormHarness, form_harness

DETAILS = {
    "referrer_name": "Rosalind Referrer",
    "referrer_organisation": "Meadows GP surgery",
    "referrer_email": "rosalind@example.org",
    "victim_name": "Valentina Victimname",
    "victim_age": "34",
    "victim_gender": "female",
    "victim_postcode": "NG7 2AH",
    "relationship": "stranger",
    "behaviours": ["following", "unwanted_contact"],
    "incident_count": "5",
    "consent_given": "yes",
}
CONTACT = {"contact_method": "text", "contact_phone": "07700900999", "voicemail_safe": "no"}


def _to_check(h: FormHarness) -> str:
    """Answer every page as a professional; return the CSRF token."""
    token = h.csrf(h.client.get("/refer").text)
    assert h.post("/refer", {"journey": "someone_else"}, token).status_code == 303
    assert h.post("/refer/who", {"referrer_kind": "professional"}, token).status_code == 303
    assert h.post("/refer/details", DETAILS, token).headers["location"] == "/refer/safe-contact"
    assert h.post("/refer/safe-contact", CONTACT, token).headers["location"] == "/refer/check"
    return token


def test_every_page_is_uncached_and_locked_down() -> None:
    h = form_harness()
    response = h.client.get("/refer")
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["referrer-policy"] == "no-referrer"
    csp = response.headers["content-security-policy"]
    assert "script-src 'self'" in csp
    assert "frame-ancestors 'none'" in csp
    assert "unsafe-inline" not in csp
    assert "<script>" not in response.text
    cookie = response.headers["set-cookie"]
    assert "HttpOnly" in cookie
    assert "SameSite=strict" in cookie


def test_a_full_journey_sends_one_contract_submission_and_deletes_the_draft() -> None:
    h = form_harness()
    token = _to_check(h)
    check = h.client.get("/refer/check")
    assert "Valentina Victimname" in check.text  # the person's own answers, to check
    done = h.post("/refer/check", {}, token)
    assert done.status_code == 200
    [(submission, how)] = h.sent
    assert how == {"agency_id": "web-professional", "idempotency_key": None, "channel": "web"}
    assert submission.referrer.organisation == "Meadows GP surgery"
    assert submission.victim.safe_contact.phone == "07700900999"
    assert submission.submission_id.startswith("WEB-")
    reference = submission.submission_id.rsplit("-", 1)[-1]
    assert f"{reference[:4]} {reference[4:]}" in done.text
    assert "0808 802 0300" in done.text
    assert "999" in done.text
    assert "Valentina" not in done.text
    assert str(submission.submission_id) not in done.text
    assert h.rows.rows == {}
    assert f'{COOKIE}=""' in done.headers["set-cookie"]
    # Sending again (Back, refresh) finds no session: nothing is sent twice.
    assert h.post("/refer/check", {}, token).status_code == 403
    assert len(h.sent) == 1


def test_a_post_without_its_sessions_csrf_token_is_refused() -> None:
    h = form_harness()
    token = h.csrf(h.client.get("/refer").text)
    other = form_harness()
    foreign = other.csrf(other.client.get("/refer").text)
    for data in ({}, {"csrf_token": ""}, {"csrf_token": foreign}):
        response = h.client.post("/refer", data={"journey": "self", **data})
        assert response.status_code == 403
        assert "Start again" in response.text
    assert h.post("/refer", {"journey": "self"}, token).status_code == 303


def test_a_filled_honeypot_is_refused_and_nothing_is_sent() -> None:
    h = form_harness()
    token = _to_check(h)
    response = h.post("/refer/check", {"website": "http://spam.example"}, token)
    assert response.status_code == 400
    assert "website" in response.text
    assert h.sent == []


def test_a_client_over_its_rate_limit_is_asked_to_try_again_later() -> None:
    h = form_harness(rate="3/minute")
    for _ in range(3):
        assert h.client.get("/refer").status_code == 200
    response = h.client.get("/refer")
    assert response.status_code == 429
    assert "try again later" in response.text.lower()
    assert int(response.headers["retry-after"]) >= 1
    assert response.headers["cache-control"] == "no-store"
    # The quick exit is never rate limited.
    assert h.client.get("/exit", follow_redirects=False).status_code == 303


def test_an_oversize_post_is_refused() -> None:
    h = form_harness(max_bytes=2048)
    token = h.csrf(h.client.get("/refer").text)
    response = h.post("/refer", {"journey": "self", "victim_name": "x" * 4096}, token)
    assert response.status_code == 413
    assert h.rows.rows
    assert h.sent == []


def test_exit_deletes_the_draft_expires_the_cookie_and_leaves() -> None:
    h = form_harness()
    _to_check(h)
    assert len(h.rows.rows) == 1
    response = h.client.get("/exit", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == EXIT
    assert h.rows.rows == {}
    assert f'{COOKIE}=""' in response.headers["set-cookie"]
    assert "Max-Age=0" in response.headers["set-cookie"]
    assert response.headers["cache-control"] == "no-store"


def test_drafts_are_encrypted_and_bound_to_their_session() -> None:
    h = form_harness()
    _to_check(h)
    [(payload, _expires)] = h.rows.rows.values()
    for typed in ("Valentina", "07700900999", "Meadows", "NG7"):
        assert typed.encode() not in payload
    # The same ciphertext under another session's key does not open.
    other = form_harness()
    other.client.get("/refer")
    [digest] = other.rows.rows
    other.rows.rows[digest] = (payload, h.now[0] + timedelta(minutes=5))
    response = other.client.get("/refer/check", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/refer"


def test_a_draft_expires_after_thirty_minutes() -> None:
    h = form_harness()
    _to_check(h)
    h.now[0] += timedelta(minutes=29)
    assert h.client.get("/refer/check", follow_redirects=False).status_code == 200
    h.now[0] += timedelta(minutes=31)  # each page renews the expiry
    response = h.client.get("/refer/check", follow_redirects=False)
    assert response.headers["location"] == "/refer"


def test_mistakes_are_shown_with_what_was_typed() -> None:
    h = form_harness()
    token = h.csrf(h.client.get("/refer").text)
    h.post("/refer", {"journey": "someone_else"}, token)
    h.post("/refer/who", {"referrer_kind": "professional"}, token)
    bad = DETAILS | {"referrer_organisation": "", "victim_postcode": "nowhere"}
    response = h.post("/refer/details", bad, token)
    assert response.status_code == 400
    assert "There is a problem" in response.text
    assert 'href="#referrer_organisation">Enter your organisation' in response.text
    assert 'href="#victim_postcode">Postcode is not a UK postcode' in response.text
    assert 'value="Valentina Victimname"' in response.text
    assert 'value="nowhere"' in response.text
    assert response.text.count("govuk-form-group--error") == 2


def test_a_refusal_by_the_use_case_lands_on_the_field_it_names() -> None:
    h = form_harness()
    token = h.csrf(h.client.get("/refer").text)
    h.post("/refer", {"journey": "someone_else"}, token)
    h.post("/refer/who", {"referrer_kind": "professional"}, token)
    h.post("/refer/details", DETAILS | {"victim_name": "Val\x00entina"}, token)
    h.post("/refer/safe-contact", CONTACT, token)
    response = h.post("/refer/check", {}, token)
    assert response.status_code == 400
    assert 'href="#victim_name">Name contains a NUL (U+0000) character' in response.text
    assert 'action="/refer/details"' in response.text
    assert h.sent == []


def test_the_draft_key_is_required_and_must_be_32_bytes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INTAKE_DATABASE_URL", "postgresql://unused@127.0.0.1:1/unused")
    monkeypatch.delenv("INTAKE_WEB_DRAFT_KEY", raising=False)
    with pytest.raises(ValidationError) as missing:
        IntakeSettings()
    assert "INTAKE_WEB_DRAFT_KEY" in missing_settings_message(missing.value, "INTAKE_")
    monkeypatch.setenv("INTAKE_WEB_DRAFT_KEY", "too-short")
    with pytest.raises(ValidationError, match="INTAKE_WEB_DRAFT_KEY must be base64url of 32"):
        IntakeSettings()
