"""What the browser tests share: a neutral exit page on loopback, axe-core checks, keyboard
moves, and reads of intake's database (drafts, referrals, timeline).

The browser is Debian's chromium driven by Playwright (`executable_path`), never a browser
Playwright downloads; if it cannot start, the tests fail.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import hashlib
import threading
from collections.abc import Coroutine, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, TypeVar

import asyncpg
from axe_playwright_python.sync_playwright import Axe, AxeResults
from playwright.sync_api import BrowserContext, Page

T = TypeVar("T")
CHROMIUM = "/usr/bin/chromium"
WCAG_22_AA = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]
NEUTRAL_TITLE = "Weather forecast"
_axe = Axe()


class _Neutral(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = f"<!DOCTYPE html><html lang='en'><title>{NEUTRAL_TITLE}</title><h1>Sunny</h1>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.end_headers()
        self.wfile.write(body.encode())

    def log_message(self, *_args: Any) -> None:
        pass


@contextmanager
def neutral_site() -> Iterator[str]:
    """A neutral page on 127.0.0.1 (the exit's destination in tests: no internet)."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Neutral)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/weather"
    finally:
        server.shutdown()


def with_axe(context: BrowserContext) -> None:
    """Load axe-core (as shipped by axe-playwright-python) into every page of `context` once,
    as it is created, rather than injecting it again before every check."""
    context.add_init_script(script=_axe.axe_script)


def assert_accessible(page: Page, what: str) -> None:
    """axe-core finds no WCAG 2.2 A/AA violation on the page as it is now."""
    if not page.evaluate("typeof axe !== 'undefined'"):
        page.evaluate(_axe.axe_script)
    options = {"runOnly": {"type": "tag", "values": WCAG_22_AA}, "resultTypes": ["violations"]}
    results = AxeResults(page.evaluate("options => axe.run(document, options)", options))
    assert results.violations_count == 0, f"{what}: {results.generate_report()}"


def tab_to(page: Page, element_id: str, limit: int = 120) -> None:
    """Press Tab until the element with `element_id` has the focus (keyboard only)."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement && document.activeElement.id") == element_id:
            return
    raise AssertionError(f"#{element_id} cannot be reached with Tab")


def choose(page: Page, radio_id: str) -> None:
    """Select a radio with the keyboard: Tab into its group, then arrow down to it."""
    tab_to(page, radio_id.split("-", 1)[0])
    for _ in range(20):
        if page.evaluate("document.activeElement.id") == radio_id:
            page.keyboard.press("Space")
            return
        page.keyboard.press("ArrowDown")
    raise AssertionError(f"#{radio_id} cannot be reached with the arrow keys")


def session_digest(session_id: str) -> bytes:
    return hashlib.sha256(session_id.encode()).digest()


def run_async(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine on its own thread and loop: these tests and fixtures are synchronous
    (the browser API is), while the suite's event loop runs in the main thread."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coroutine).result(timeout=60)


def query(dsn: str, sql: str, *args: Any) -> list[dict[str, Any]]:
    async def run() -> list[dict[str, Any]]:
        conn = await asyncpg.connect(dsn)
        try:
            return [dict(r) for r in await conn.fetch(sql, *args)]
        finally:
            await conn.close()

    return run_async(run())
