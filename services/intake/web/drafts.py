"""The drafts the web form keeps between pages: server-side, encrypted, expiring.

Rules kept here:
- the browser holds only an opaque random session id; the database holds the SHA-256 of it,
  so neither the table nor a log of it gives a usable cookie;
- a draft is AES-256-GCM ciphertext (key from INTAKE_WEB_DRAFT_KEY) whose associated data is
  the session digest: a row copied under another session does not decrypt;
- a draft past its expiry is never returned, and expired rows are purged as sessions start;
- ending a session deletes its row (exit, submission).
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, Protocol

import asyncpg
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

Draft = dict[str, Any]


def session_digest(session_id: str) -> bytes:
    return hashlib.sha256(session_id.encode()).digest()


class DraftCipher:
    """AES-256-GCM sealing of a draft, bound to its session."""

    def __init__(self, key_b64: str) -> None:
        self._aead = AESGCM(base64.urlsafe_b64decode(key_b64 + "=="))

    def seal(self, digest: bytes, draft: Draft) -> bytes:
        nonce = secrets.token_bytes(12)
        return nonce + self._aead.encrypt(nonce, json.dumps(draft).encode(), digest)

    def open(self, digest: bytes, blob: bytes) -> Draft | None:
        try:
            plain = self._aead.decrypt(blob[:12], blob[12:], digest)
        except InvalidTag:
            return None
        opened: Draft = json.loads(plain)
        return opened


class DraftRows(Protocol):
    async def put(self, digest: bytes, payload: bytes, expires_at: datetime) -> None: ...
    async def get(self, digest: bytes, now: datetime) -> bytes | None: ...
    async def delete(self, digest: bytes) -> None: ...
    async def purge(self, now: datetime) -> None: ...


class PgDraftRows:
    """The `web_drafts` table."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def put(self, digest: bytes, payload: bytes, expires_at: datetime) -> None:
        await self._pool.execute(
            "INSERT INTO web_drafts (session_digest, payload, expires_at) VALUES ($1, $2, $3)"
            " ON CONFLICT (session_digest) DO UPDATE"
            " SET payload = EXCLUDED.payload, expires_at = EXCLUDED.expires_at",
            digest,
            payload,
            expires_at,
        )

    async def get(self, digest: bytes, now: datetime) -> bytes | None:
        payload: bytes | None = await self._pool.fetchval(
            "SELECT payload FROM web_drafts WHERE session_digest = $1 AND expires_at > $2",
            digest,
            now,
        )
        return payload

    async def delete(self, digest: bytes) -> None:
        await self._pool.execute("DELETE FROM web_drafts WHERE session_digest = $1", digest)

    async def purge(self, now: datetime) -> None:
        await self._pool.execute("DELETE FROM web_drafts WHERE expires_at <= $1", now)


class Sessions:
    """Start, read, update and end form sessions; each access renews the expiry."""

    def __init__(
        self,
        rows: DraftRows,
        cipher: DraftCipher,
        ttl: timedelta,
        now: Callable[[], datetime],
    ) -> None:
        self._rows, self._cipher, self._ttl, self._now = rows, cipher, ttl, now

    async def start(self) -> tuple[str, Draft]:
        await self._rows.purge(self._now())
        session_id = secrets.token_urlsafe(32)
        draft: Draft = {"csrf": secrets.token_urlsafe(32), "answers": {}}
        await self.save(session_id, draft)
        return session_id, draft

    async def load(self, session_id: str | None) -> Draft | None:
        if not session_id or len(session_id) > 128:
            return None
        digest = session_digest(session_id)
        blob = await self._rows.get(digest, self._now())
        return None if blob is None else self._cipher.open(digest, blob)

    async def save(self, session_id: str, draft: Draft) -> None:
        digest = session_digest(session_id)
        sealed = self._cipher.seal(digest, draft)
        await self._rows.put(digest, sealed, self._now() + self._ttl)

    async def end(self, session_id: str | None) -> None:
        if session_id and len(session_id) <= 128:
            await self._rows.delete(session_digest(session_id))
