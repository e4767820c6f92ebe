"""Standard Webhooks 1.0 signing, written from the specification (not with its package).

Rules kept here:
- a secret is `whsec_` followed by standard base64 of the key bytes; the key is what is decoded;
- the signed content is `{webhook-id}.{webhook-timestamp}.{body}` exactly as sent, where the
  timestamp is whole unix seconds;
- the signature header is `v1,` + standard base64 of HMAC-SHA256(key, signed content);
- the webhook id is the receiver's dedupe key, so it stays the same on every attempt, while the
  timestamp (and so the signature) is fresh on each attempt, because receivers refuse old ones.
Kept independent of the `standardwebhooks` package on purpose: the demo receiver verifies with
that package, so each side checks the other.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from typing import Final

SECRET_PREFIX: Final = "whsec_"  # noqa: S105 - the format's prefix, not a secret


class InvalidSecret(ValueError):
    """The secret is not `whsec_` + base64 of at least one byte."""


def secret_key(secret: str) -> bytes:
    """The HMAC key inside a `whsec_...` secret."""
    if not secret.startswith(SECRET_PREFIX):
        raise InvalidSecret("a webhook secret starts with whsec_")
    encoded = secret.removeprefix(SECRET_PREFIX)
    try:
        key = base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)
    except binascii.Error:
        raise InvalidSecret("a webhook secret is whsec_ followed by base64") from None
    if not key:
        raise InvalidSecret("a webhook secret may not be empty")
    return key


def signature(secret: str, webhook_id: str, timestamp: int, body: bytes) -> str:
    """The `webhook-signature` header value for one attempt."""
    signed = f"{webhook_id}.{timestamp}.".encode() + body
    digest = hmac.new(secret_key(secret), signed, hashlib.sha256).digest()
    return f"v1,{base64.b64encode(digest).decode()}"


def webhook_headers(secret: str, webhook_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    """The headers of one signed delivery of `body`."""
    return {
        "webhook-id": webhook_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signature(secret, webhook_id, timestamp, body),
        "content-type": "application/json",
    }
