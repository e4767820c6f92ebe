"""The browser journeys' shared state and steps: what they type (unique to this run, so a leak
can be found anywhere), the URLs and cookies they saw, and how a sent referral is found again
in intake's database and at the demo provider receiver."""

from __future__ import annotations

import random
import re
import string
from typing import Any

from playwright.sync_api import Browser, BrowserContext, Page

from tests.support import pipeline as pipelines
from tests.support.pipeline import Pipeline
from tests.support.wait import eventually
from tests.web.browser_support import query, with_axe

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


def new_page(browser: Browser, *, javascript: bool = True) -> tuple[BrowserContext, Page]:
    context = browser.new_context(java_script_enabled=javascript)
    with_axe(context)
    page = context.new_page()
    page.on("request", lambda request: VISITED.append(request.url))
    return context, page


def close(context: BrowserContext) -> None:
    COOKIES.extend(f"{c['name']}={c['value']}" for c in context.cookies())
    context.close()


def reference(page: Page) -> str:
    text = page.locator(".govuk-panel__body strong").inner_text()
    assert re.fullmatch(r"[A-Z2-9]{4} [A-Z2-9]{4}", text), text
    return text.replace(" ", "")


def delivered(pipeline: Pipeline, stack: dict[str, str], reference: str) -> dict[str, Any]:
    """The referral sent with this reference, as the provider's system received it."""
    [row] = query(
        stack["INTAKE_DATABASE_URL"],
        "SELECT referral_id, agency_id, channel FROM referrals WHERE submission_id LIKE $1",
        f"WEB-%-{reference}",
    )
    [delivery] = pipelines.delivered(pipeline, {str(row["referral_id"])}, timeout=60).values()
    return {**row, **delivery}


def timeline_states(
    stack: dict[str, str], referral_id: Any, *, expect: set[str], timeout: float = 30.0
) -> set[str]:
    """The referral's timeline states, once they include `expect` (or at the deadline).

    Intake learns of the delivery from the gateway's ops event, a moment after the provider
    has it, so the states are polled rather than read once.
    """
    states: set[str] = set()

    def found() -> set[str] | None:
        rows = query(
            stack["INTAKE_DATABASE_URL"],
            "SELECT state FROM referral_timeline WHERE referral_id = $1",
            referral_id,
        )
        states.update(r["state"] for r in rows)
        return states if expect <= states else None

    try:
        return eventually(found, f"timeline states {sorted(expect)}", timeout=timeout)
    except AssertionError:
        return states  # the caller's assertion names what is missing


def fill(page: Page, values: dict[str, str]) -> None:
    for field, value in values.items():
        page.fill(f"#{field}", value)
