"""The web form's quick exit and defences in real headless chromium against the real pipeline:
the exit lands on the neutral page by the button (with and without JavaScript), Shift x3 and
the secondary link, leaving no draft and nothing on Back; refusal pages are accessible; forged
and oversize posts are refused; and, after every browser test of this package (this module
runs after the journeys), no typed value is in a log line, URL, cookie or ops topic."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser

from tests.support.kafka import read_since
from tests.support.pipeline import Pipeline
from tests.web.browser_support import (
    NEUTRAL_TITLE,
    assert_accessible,
    query,
    run_async,
    session_digest,
)
from tests.web.journeys import (
    COOKIES,
    RUN,
    TYPED,
    VISITED,
    close,
    new_page,
)

pytestmark = [pytest.mark.integration, pytest.mark.browser]


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
    context, page = new_page(browser, javascript=not how.endswith("without javascript"))
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
    close(context)


def test_the_refusal_pages_are_accessible_too(browser: Browser, web_pipeline: Pipeline) -> None:
    context, page = new_page(browser)
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
    close(context)


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
