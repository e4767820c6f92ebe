"""The web form in real headless chromium against the real pipeline (intake, router, gateway,
demo receiver; Kafka and PostgreSQL): each journey reaches the provider with the right
pathway, mistakes are shown with what was typed kept, the quick exit works three ways and
leaves nothing behind, every page and error state passes axe-core's WCAG 2.2 A/AA rules,
one whole journey is done with the keyboard alone, and nothing typed leaks."""

from __future__ import annotations

import random
import re
import string
import time
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Page

from tests.ops.scenario import read_since
from tests.support.pipeline import Pipeline
from tests.web.browser_support import (
    NEUTRAL_TITLE,
    assert_accessible,
    choose,
    query,
    run_async,
    session_digest,
    tab_to,
    with_axe,
)

pytestmark = [pytest.mark.integration, pytest.mark.browser]

RUN = "".join(random.choices(string.ascii_lowercase, k=8))
# What each journey types: every value unique to this run, so a leak can be found anywhere.
TYPED: dict[str, str] = {
    "self_name": f"Selma Selfref{RUN}",
    "self_phone": "07900 111 " + "".join(random.choices(string.digits, k=3)),
    "public_name": f"Pablo Friend{RUN}",
    "public_email": f"pablo.{RUN}@example.org",
    "public_victim": f"Petra Victim{RUN}",
    "public_times": f"mornings {RUN}",
    "pro_name": f"Priya Worker{RUN}",
    "pro_org": f"Clinic {RUN}",
    "pro_phone": "0115 496 " + "".join(random.choices(string.digits, k=4)),
    "pro_victim": f"Paula Client{RUN}",
    "pro_email": f"paula.{RUN}@example.org",
    "pro_basis": f"safeguarding {RUN}",
}
VISITED: list[str] = []
COOKIES: list[str] = []


def _new_page(browser: Browser, *, javascript: bool = True) -> tuple[BrowserContext, Page]:
    context = browser.new_context(java_script_enabled=javascript)
    with_axe(context)
    page = context.new_page()
    page.on("request", lambda request: VISITED.append(request.url))
    return context, page


def _close(context: BrowserContext) -> None:
    COOKIES.extend(f"{c['name']}={c['value']}" for c in context.cookies())
    context.close()


def _reference(page: Page) -> str:
    text = page.locator(".govuk-panel__body strong").inner_text()
    assert re.fullmatch(r"[A-Z2-9]{4} [A-Z2-9]{4}", text), text
    return text.replace(" ", "")


def _delivered(pipeline: Pipeline, stack: dict[str, str], reference: str) -> dict[str, Any]:
    """The referral sent with this reference, as the provider's system received it."""
    [row] = query(
        stack["INTAKE_DATABASE_URL"],
        "SELECT referral_id, agency_id, channel FROM referrals WHERE submission_id LIKE $1",
        f"WEB-%-{reference}",
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        got = httpx.get(f"{pipeline.receiver.url}/received", timeout=5).json()
        for delivery in got["deliveries"]:
            if delivery["referral_id"] == str(row["referral_id"]):
                return {**row, **delivery}
        time.sleep(0.3)
    raise AssertionError(f"referral {reference} was not delivered")


def _timeline_states(stack: dict[str, str], referral_id: Any) -> set[str]:
    rows = query(
        stack["INTAKE_DATABASE_URL"],
        "SELECT state FROM referral_timeline WHERE referral_id = $1",
        referral_id,
    )
    return {r["state"] for r in rows}


def test_a_self_referral_done_with_the_keyboard_alone_reaches_the_provider(
    browser: Browser, web_pipeline: Pipeline, stack_env: dict[str, str]
) -> None:
    context, page = _new_page(browser)
    keys = page.keyboard
    page.goto(f"{web_pipeline.intake.url}/refer")
    assert_accessible(page, "start page")
    tab_to(page, "journey")
    keys.press("Space")
    keys.press("Enter")
    page.wait_for_url("**/refer/details")
    assert_accessible(page, "details (self)")
    for field, value in (
        ("victim_name", TYPED["self_name"]),
        ("victim_dob_day", "1"),
        ("victim_dob_month", "5"),
        ("victim_dob_year", "1990"),
    ):
        tab_to(page, field)
        keys.type(value)
    tab_to(page, "victim_gender")  # Female, the first option
    keys.press("Space")
    tab_to(page, "victim_postcode")
    keys.type("ng72ah")
    choose(page, "relationship-8")
    tab_to(page, "behaviours")
    keys.press("Space")
    tab_to(page, "incident_count")
    keys.type("4")
    keys.press("Enter")
    page.wait_for_url("**/refer/safe-contact")
    assert_accessible(page, "safe contact (self)")
    choose(page, "contact_method-2")
    tab_to(page, "contact_phone")
    keys.type(TYPED["self_phone"])
    keys.press("Enter")
    page.wait_for_url("**/refer/check")
    assert_accessible(page, "check your answers (self)")
    assert TYPED["self_name"] in page.content()
    while page.evaluate("document.activeElement.textContent.trim()") != "Send referral":
        keys.press("Tab")
    keys.press("Enter")
    page.wait_for_selector(".govuk-panel--confirmation")
    assert_accessible(page, "confirmation")
    content = page.content()
    assert TYPED["self_name"] not in content
    assert "0808 802 0300" in content
    delivery = _delivered(web_pipeline, stack_env, _reference(page))
    assert (delivery["agency_id"], delivery["channel"]) == ("web-self", "web")
    decision = delivery["assignment"]["decision"]
    assert (decision["pathway"], delivery["provider"]) == ("stalking_advocacy", "juno")
    assert {"received", "decided", "delivered"} <= _timeline_states(
        stack_env, delivery["referral_id"]
    )
    _close(context)


def _fill(page: Page, values: dict[str, str]) -> None:
    for field, value in values.items():
        page.fill(f"#{field}", value)


def test_a_member_of_the_public_sees_their_mistakes_with_what_they_typed_then_refers(
    browser: Browser, web_pipeline: Pipeline, stack_env: dict[str, str]
) -> None:
    context, page = _new_page(browser)
    page.goto(f"{web_pipeline.intake.url}/refer")
    page.click("button:has-text('Continue')")
    assert page.locator(".govuk-error-summary").is_visible()
    assert_accessible(page, "start page with an error")
    page.check("#journey-2")
    page.click("button:has-text('Continue')")
    page.click("button:has-text('Continue')")
    assert_accessible(page, "who page with an error")
    page.check("#referrer_kind")
    page.click("button:has-text('Continue')")
    # Mistakes: no contact details for the referrer, a bad postcode, no consent answer.
    _fill(page, {"referrer_name": TYPED["public_name"], "victim_name": TYPED["public_victim"]})
    _fill(page, {"victim_postcode": "not a postcode", "victim_age": "29"})
    page.click("button:has-text('Continue')")
    summary = page.locator(".govuk-error-summary")
    assert summary.is_visible()
    assert page.title().startswith("Error:")
    assert "Enter your email address or phone number" in summary.inner_text()
    assert page.input_value("#referrer_name") == TYPED["public_name"]
    assert page.input_value("#victim_name") == TYPED["public_victim"]
    assert page.input_value("#victim_postcode") == "not a postcode"
    assert_accessible(page, "details page with errors")
    _fill(page, {"referrer_email": TYPED["public_email"], "victim_postcode": "NG7 2AH"})
    page.check("#victim_gender-2")  # male
    page.check("#relationship-8")  # stranger
    page.check("#behaviours-3")
    page.fill("#incident_count", "2")
    page.check("#consent_given")
    page.click("button:has-text('Continue')")
    page.wait_for_url("**/refer/safe-contact")
    page.check("#contact_method-3")  # email, with no address: a mistake
    page.click("button:has-text('Continue')")
    assert "Enter a safe email address" in page.locator(".govuk-error-summary").inner_text()
    assert_accessible(page, "safe contact page with an error")
    page.check("#contact_method-4")  # through the referrer
    page.fill("#safe_times", TYPED["public_times"])
    page.click("button:has-text('Continue')")
    page.click("button:has-text('Send referral')")
    delivery = _delivered(web_pipeline, stack_env, _reference(page))
    assert delivery["agency_id"] == "web-public"
    assert delivery["assignment"]["decision"]["pathway"] == "stalking_advocacy"
    assert delivery["provider"] == "equation"
    _close(context)


def test_a_professional_refers_without_consent_on_a_lawful_basis(
    browser: Browser, web_pipeline: Pipeline, stack_env: dict[str, str]
) -> None:
    context, page = _new_page(browser)
    page.goto(f"{web_pipeline.intake.url}/refer")
    page.check("#journey-2")
    page.click("button:has-text('Continue')")
    assert_accessible(page, "who page")
    page.check("#referrer_kind-2")
    page.click("button:has-text('Continue')")
    assert_accessible(page, "details (professional)")
    _fill(
        page,
        {
            "referrer_name": TYPED["pro_name"],
            "referrer_organisation": TYPED["pro_org"],
            "referrer_phone": TYPED["pro_phone"],
            "victim_name": TYPED["pro_victim"],
            "victim_dob_day": "12",
            "victim_dob_month": "8",
            "victim_dob_year": "1985",
            "victim_postcode": "NG18 4RF",
            "incident_count": "12",
        },
    )
    page.check("#victim_gender")
    page.check("#relationship")  # ex-partner
    page.check("#behaviours")
    page.check("#consent_given-2")  # no consent...
    page.click("button:has-text('Continue')")
    assert "lawful basis" in page.locator(".govuk-error-summary").inner_text()
    page.fill("#lawful_basis", TYPED["pro_basis"])  # ...so the lawful basis
    page.click("button:has-text('Continue')")
    page.check("#contact_method-3")
    page.fill("#contact_email", TYPED["pro_email"])
    page.check("#voicemail_safe-2")
    page.click("button:has-text('Continue')")
    page.click("button:has-text('Send referral')")
    delivery = _delivered(web_pipeline, stack_env, _reference(page))
    assert delivery["agency_id"] == "web-professional"
    assert delivery["assignment"]["decision"]["pathway"] == "domestic_abuse_services"
    referral = delivery["assignment"]["referral"]
    assert referral["consent"]["lawful_basis_without_consent"] == TYPED["pro_basis"]
    assert referral["victim"]["safe_contact"]["email"] == TYPED["pro_email"]
    _close(context)


@pytest.mark.parametrize(
    "how", ["button", "shift three times", "secondary link", "button without javascript"]
)
def test_the_quick_exit_lands_on_the_neutral_page_and_leaves_nothing_behind(
    browser: Browser,
    web_pipeline: Pipeline,
    stack_env: dict[str, str],
    neutral_url: str,
    how: str,
) -> None:
    context, page = _new_page(browser, javascript=not how.endswith("without javascript"))
    page.goto(f"{web_pipeline.intake.url}/refer")
    page.check("#journey")
    page.click("button:has-text('Continue')")
    secret = f"Exit Person{RUN}{how.replace(' ', '')}"
    page.fill("#victim_name", secret)
    page.click("button:has-text('Continue')")  # saved in the draft (with errors: no matter)
    # The last page in the history shows the draft (a GET, as after Back or a reload).
    page.goto(f"{web_pipeline.intake.url}/refer/details")
    assert page.input_value("#victim_name") == secret
    [cookie] = [c for c in context.cookies() if c["name"] == "refer_session"]
    digest = session_digest(cookie["value"])
    dsn = stack_env["INTAKE_DATABASE_URL"]
    drafts = "SELECT 1 FROM web_drafts WHERE session_digest = $1"
    assert query(dsn, drafts, digest), "the draft is kept server-side"
    if how.startswith("button"):  # with JavaScript GOV.UK's script navigates; without, the link
        page.click(".govuk-js-exit-this-page-button")
    elif how == "shift three times":
        page.locator("h1").click()
        for _ in range(3):
            page.keyboard.press("Shift")
    else:
        page.locator("body").focus()
        page.keyboard.press("Tab")  # the skip link...
        page.keyboard.press("Tab")  # ...then the secondary exit link
        assert page.evaluate("document.activeElement.textContent.trim()") == "Exit this page"
        page.keyboard.press("Enter")
    page.wait_for_url(neutral_url, timeout=10_000)
    assert page.title() == NEUTRAL_TITLE
    assert query(dsn, drafts, digest) == [], "the draft is deleted on exit"
    assert not [c for c in context.cookies() if c["name"] == "refer_session"]
    page.go_back()  # fetched again (no-store): the session is gone, so the start page
    page.wait_for_load_state()
    assert page.url.endswith("/refer")
    assert secret not in page.content()
    values = page.eval_on_selector_all("input", "els => els.map(e => e.value)")
    assert secret not in values
    _close(context)


def test_the_refusal_pages_are_accessible_too(browser: Browser, web_pipeline: Pipeline) -> None:
    context, page = _new_page(browser)
    page.goto(f"{web_pipeline.intake.url}/refer")
    page.check("#journey")
    # A forged post (no CSRF token), then a bot's (the hidden honeypot filled in).
    page.evaluate("document.querySelector('[name=csrf_token]').value = 'forged'")
    page.click("button:has-text('Continue')")
    assert "expired or was not sent from this service" in page.content()
    assert_accessible(page, "CSRF refusal page")
    page.goto(f"{web_pipeline.intake.url}/refer")
    page.check("#journey")
    page.evaluate("document.querySelector('#website').value = 'http://spam.example'")
    page.click("button:has-text('Continue')")
    assert "hidden field meant for automated programs" in page.content()
    assert_accessible(page, "honeypot refusal page")
    # The check is real: an image without a text alternative is a WCAG violation it reports.
    page.evaluate("document.querySelector('main').append(document.createElement('img'))")
    with pytest.raises(AssertionError, match="image-alt"):
        assert_accessible(page, "a page with a broken image")
    _close(context)


def test_the_real_intake_refuses_forged_and_oversize_posts(web_pipeline: Pipeline) -> None:
    url = f"{web_pipeline.intake.url}/refer"
    with httpx.Client(timeout=10) as client:
        client.get(url)  # a session, but no token sent with the post
        assert client.post(url, data={"journey": "self"}).status_code == 403
        big = client.post(url, data={"journey": "self", "x": "a" * 70_000})
        assert big.status_code == 413


def test_nothing_typed_is_in_a_log_line_url_cookie_or_ops_topic(
    web_pipeline: Pipeline, stack_env: dict[str, str], ops_start: dict[Any, int]
) -> None:
    needles = {v.lower() for v in TYPED.values()} | {f"exit person{RUN}".lower()}
    needles |= {re.sub(r"\D", "", v) for k, v in TYPED.items() if "phone" in k}
    assert VISITED, "the browser tests ran first and recorded their URLs"
    for url in VISITED:
        assert not [n for n in needles if n in url.lower()], url
    for cookie in COOKIES:
        assert not [n for n in needles if n in cookie.lower()], cookie
    for process in (web_pipeline.intake, web_pipeline.router, web_pipeline.gateway):
        log = process.log_path.read_text(errors="replace").lower()
        assert not [n for n in needles if n in log], f"typed data in {process.name}'s log"
    receiver = (
        web_pipeline.receiver.log_path.read_text(errors="replace")
        + httpx.get(f"{web_pipeline.receiver.url}/received", timeout=5).text
    )
    assert TYPED["pro_basis"] in receiver, "the search is real: the provider did receive it"
    messages = run_async(read_since(stack_env["KAFKA_BOOTSTRAP_SERVERS"], ops_start))
    assert messages, "the journeys were announced on ops.events.v1"
    for message in messages:
        text = message.text().lower()
        assert not [n for n in needles if n in text], f"typed data on {message.topic}"
