"""How the web form's pages are rendered and sent: templates and the headers every page has.

Rules kept here:
- every page is `Cache-Control: no-store` (Back after an exit shows nothing typed), with a
  strict Content-Security-Policy (no inline script or style: `script-src 'self'`),
  `Referrer-Policy: no-referrer` and `frame-ancestors 'none'`;
- templates are autoescaped; no page puts a typed value in a URL.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.responses import HTMLResponse, RedirectResponse, Response

TEMPLATES = Path(__file__).parent / "templates"
COOKIE = "refer_session"
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "font-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; "
    "base-uri 'none'; object-src 'none'"
)
HEADERS = {
    "Cache-Control": "no-store",
    "Pragma": "no-cache",
    "Content-Security-Policy": CSP,
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
}

_env = Environment(
    loader=FileSystemLoader(TEMPLATES),
    autoescape=select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
)


def render(template: str, status: int = 200, **context: Any) -> HTMLResponse:
    html = _env.get_template(template).render(**context)
    return HTMLResponse(html, status_code=status, headers=HEADERS)


def redirect(url: str) -> Response:
    return RedirectResponse(url, status_code=303, headers=HEADERS)


def set_session_cookie(response: Response, session_id: str, *, secure: bool) -> None:
    # A browser-session cookie (no Max-Age): it holds only the opaque id.
    response.set_cookie(
        COOKIE, session_id, path="/", httponly=True, samesite="strict", secure=secure
    )


def clear_session_cookie(response: Response, *, secure: bool) -> None:
    response.delete_cookie(COOKIE, path="/", httponly=True, samesite="strict", secure=secure)
