"""The web form in real headless chromium against the real pipeline (intake, router, gateway,
demo receiver; Kafka and PostgreSQL): each journey reaches the provider with the right
pathway and agency id, mistakes are shown with what was typed kept, every page and error
state passes axe-core's WCAG 2.2 A/AA rules, and one whole journey is done with the keyboard
alone."""

from __future__ import annotations

import pytest
from playwright.sync_api import Browser

from tests.support.pipeline import Pipeline
from tests.web.browser_support import (
    assert_accessible,
    choose,
    tab_to,
)
from tests.web.journeys import (
    TYPED,
    close,
    delivered,
    fill,
    new_page,
    reference,
    timeline_states,
)

pytestmark = [pytest.mark.integration, pytest.mark.browser]


def test_a_self_referral_done_with_the_keyboard_alone_reaches_the_provider(
    browser: Browser, web_pipeline: Pipeline, stack_env: dict[str, str]
) -> None:
    context, page = new_page(browser)
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
    delivery = delivered(web_pipeline, stack_env, reference(page))
    assert (delivery["agency_id"], delivery["channel"]) == ("web-self", "web")
    decision = delivery["assignment"]["decision"]
    assert (decision["pathway"], delivery["provider"]) == ("stalking_advocacy", "juno")
    expected = {"received", "decided", "delivered"}
    assert expected <= timeline_states(stack_env, delivery["referral_id"], expect=expected)
    close(context)


def test_a_member_of_the_public_sees_their_mistakes_with_what_they_typed_then_refers(
    browser: Browser, web_pipeline: Pipeline, stack_env: dict[str, str]
) -> None:
    context, page = new_page(browser)
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
    fill(page, {"referrer_name": TYPED["public_name"], "victim_name": TYPED["public_victim"]})
    fill(page, {"victim_postcode": "not a postcode", "victim_age": "29"})
    page.click("button:has-text('Continue')")
    summary = page.locator(".govuk-error-summary")
    assert summary.is_visible()
    assert page.title().startswith("Error:")
    assert "Enter your email address or phone number" in summary.inner_text()
    assert page.input_value("#referrer_name") == TYPED["public_name"]
    assert page.input_value("#victim_name") == TYPED["public_victim"]
    assert page.input_value("#victim_postcode") == "not a postcode"
    assert_accessible(page, "details page with errors")
    fill(page, {"referrer_email": TYPED["public_email"], "victim_postcode": "NG7 2AH"})
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
    delivery = delivered(web_pipeline, stack_env, reference(page))
    assert delivery["agency_id"] == "web-public"
    assert delivery["assignment"]["decision"]["pathway"] == "stalking_advocacy"
    assert delivery["provider"] == "equation"
    close(context)


def test_a_professional_refers_without_consent_on_a_lawful_basis(
    browser: Browser, web_pipeline: Pipeline, stack_env: dict[str, str]
) -> None:
    context, page = new_page(browser)
    page.goto(f"{web_pipeline.intake.url}/refer")
    page.check("#journey-2")
    page.click("button:has-text('Continue')")
    assert_accessible(page, "who page")
    page.check("#referrer_kind-2")
    page.click("button:has-text('Continue')")
    assert_accessible(page, "details (professional)")
    fill(
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
    delivery = delivered(web_pipeline, stack_env, reference(page))
    assert delivery["agency_id"] == "web-professional"
    assert delivery["assignment"]["decision"]["pathway"] == "domestic_abuse_services"
    referral = delivery["assignment"]["referral"]
    assert referral["consent"]["lawful_basis_without_consent"] == TYPED["pro_basis"]
    assert referral["victim"]["safe_contact"]["email"] == TYPED["pro_email"]
    close(context)
