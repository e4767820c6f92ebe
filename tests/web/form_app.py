"""The web form on a bare FastAPI app with in-memory drafts and a recording `accept` (fakes at
the form's seams, for wiring tests); the real database and pipeline are in the browser tests."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import uuid4

from fastapi import FastAPI
from fastapi.testclient import TestClient

from services.common.http import BodySizeLimit
from services.intake.domain import Acceptance, SubmissionRefused, text_problems
from services.intake.web import WebForm, mount_web
from services.intake.web.drafts import DraftCipher, Sessions
from services.intake.web.guards import RateLimit
from shared import ReferralSubmission

KEY = "q" * 43  # base64url of 32 bytes
EXIT = "http://127.0.0.1:9/neutral"
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


class MemoryRows:
    """DraftRows in a dict: digest -> (payload, expires_at)."""

    def __init__(self) -> None:
        self.rows: dict[bytes, tuple[bytes, datetime]] = {}

    async def put(self, digest: bytes, payload: bytes, expires_at: datetime) -> None:
        self.rows[digest] = (payload, expires_at)

    async def get(self, digest: bytes, now: datetime) -> bytes | None:
        row = self.rows.get(digest)
        return row[0] if row and row[1] > now else None

    async def delete(self, digest: bytes) -> None:
        self.rows.pop(digest, None)

    async def purge(self, now: datetime) -> None:
        self.rows = {d: r for d, r in self.rows.items() if r[1] > now}


@dataclass
class FormHarness:
    client: TestClient
    rows: MemoryRows
    sent: list[tuple[ReferralSubmission, dict[str, Any]]] = field(default_factory=list)
    now: list[datetime] = field(default_factory=lambda: [datetime.now(UTC)])

    def csrf(self, html: str) -> str:
        found = CSRF.search(html)
        assert found, "page has no CSRF token"
        return found.group(1)

    def post(self, path: str, data: dict[str, Any], token: str) -> Any:
        return self.client.post(path, data={"csrf_token": token, **data}, follow_redirects=False)


def form_harness(rate: str = "1000/minute", max_bytes: int = 64 * 1024) -> FormHarness:
    app = FastAPI()
    app.add_middleware(BodySizeLimit, max_bytes=max_bytes)
    rows = MemoryRows()
    harness = FormHarness(TestClient(app, base_url="http://127.0.0.1"), rows)

    async def accept(submission: ReferralSubmission, **kwargs: Any) -> Acceptance:
        # The use case's own rule beyond the contract model, as intake applies it.
        if problems := text_problems(submission):
            raise SubmissionRefused(problems)
        harness.sent.append((submission, kwargs))
        return Acceptance(uuid4(), created=True, received_at=harness.now[0])

    def sessions() -> Sessions:
        return Sessions(rows, DraftCipher(KEY), timedelta(minutes=30), lambda: harness.now[0])

    mount_web(
        app,
        WebForm(
            sessions=sessions,
            accept=accept,
            exit_url=EXIT,
            cookie_secure=False,
            limit=RateLimit(rate),
        ),
    )
    return harness
