"""Screenshots of the web referral form for the README (headless Debian chromium).

    .venv/bin/python scripts/web_screenshots.py http://127.0.0.1:8001

Writes docs/web-form-start.png (the start page) and docs/web-form-errors.png (the details
page of a professional's referral sent with mistakes: the error summary and inline errors).
"""

from __future__ import annotations

import sys
from pathlib import Path

from playwright.sync_api import sync_playwright

DOCS = Path(__file__).resolve().parents[1] / "docs"


def main(base: str) -> None:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path="/usr/bin/chromium", args=["--no-sandbox"]
        )
        page = browser.new_page(viewport={"width": 1024, "height": 900})
        page.goto(f"{base}/refer")
        page.screenshot(path=DOCS / "web-form-start.png", full_page=True)
        page.check("#journey-2")
        page.click("button:has-text('Continue')")
        page.check("#referrer_kind-2")
        page.click("button:has-text('Continue')")
        page.fill("#referrer_name", "A. Example")
        page.fill("#victim_postcode", "not a postcode")
        page.click("button:has-text('Continue')")
        page.screenshot(path=DOCS / "web-form-errors.png", full_page=True)
        page.request.get(f"{base}/exit", max_redirects=0)  # delete the draft, stay offline
        browser.close()


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:8001")
