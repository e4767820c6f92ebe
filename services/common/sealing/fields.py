"""Sealing and opening the personal fields of one submission with its referral's data key.

Rules kept here (no I/O; the keys come from `keys`, stored by `vault`):
- exactly the fields of `shared.sealed.SEALED_PATHS` are sealed, each that is not null; every
  other field keeps its v1 form;
- a field's associated data is `nsas-pii/1|<referral id>|<dotted path>`: opening a value under
  another path or referral fails authentication, so values cannot be moved or swapped;
- a value is the field's JSON text (a date as `1990-05-01`), UTF-8, so opening and validating
  gives back the same ReferralSubmission that was sealed.
"""

from __future__ import annotations

import base64
from typing import Any, Final

import tink

from services.common.sealing.errors import SealedValueInvalid
from services.common.sealing.keys import DataKey
from shared import ReferralSubmission, Sealed, SealedSubmission
from shared.sealed import SEALED_PATHS, SEALING_ALGORITHM

_SPLIT: Final = tuple(tuple(path.split(".")) for path in SEALED_PATHS)


def _context(key: DataKey, path: str) -> bytes:
    return f"nsas-pii/1|{key.referral_id}|{path}".encode()


def seal_value(key: DataKey, path: str, value: str) -> dict[str, str]:
    """The JSON form of a Sealed value of `value` at `path`."""
    ciphertext = key.aead.encrypt(value.encode(), _context(key, path))
    return {
        "alg": SEALING_ALGORITHM,
        "kid": str(key.referral_id),
        "kek": key.kek_version,
        "ct": base64.urlsafe_b64encode(ciphertext).rstrip(b"=").decode(),
    }


def open_value(key: DataKey, path: str, sealed: Sealed) -> str:
    """The clear text of `sealed` at `path`; SealedValueInvalid if it does not authenticate."""
    if sealed.kid != key.referral_id:
        raise SealedValueInvalid(key.referral_id, path, "sealed under another referral's key")
    raw = base64.urlsafe_b64decode(sealed.ct + "=" * (-len(sealed.ct) % 4))
    try:
        clear: bytes = key.aead.decrypt(raw, _context(key, path))
        return clear.decode()
    except (tink.TinkError, UnicodeDecodeError):
        raise SealedValueInvalid(key.referral_id, path, "does not authenticate") from None


def _parent(document: dict[str, Any], parts: tuple[str, ...]) -> dict[str, Any] | None:
    node: Any = document
    for part in parts[:-1]:
        node = node.get(part) if isinstance(node, dict) else None
    return node if isinstance(node, dict) else None


def seal_submission(submission: ReferralSubmission, key: DataKey) -> SealedSubmission:
    """`submission` with every personal field sealed under `key`."""
    document = submission.model_dump(mode="json")
    for path, parts in zip(SEALED_PATHS, _SPLIT, strict=True):
        parent = _parent(document, parts)
        if parent is not None and parent.get(parts[-1]) is not None:
            parent[parts[-1]] = seal_value(key, path, str(parent[parts[-1]]))
    return SealedSubmission.model_validate(document)


def unseal_submission(sealed: SealedSubmission, key: DataKey) -> ReferralSubmission:
    """The clear submission; SealedValueInvalid names the first field that does not open."""
    document = sealed.model_dump(mode="json")
    for path, parts in zip(SEALED_PATHS, _SPLIT, strict=True):
        parent = _parent(document, parts)
        if parent is not None and parent.get(parts[-1]) is not None:
            value = Sealed.model_validate(parent[parts[-1]])
            parent[parts[-1]] = open_value(key, path, value)
    return ReferralSubmission.model_validate(document)
