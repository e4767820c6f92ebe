"""Keys: the key-encryption key (KEK, pluggable) and each referral's data key (DEK).

Rules kept here:
- a data key is a Google Tink AEAD keyset (AES-256-GCM) made for one referral; its id is the
  referral id. Tink rather than hand-made AES-GCM (issue 14): it is Google's library made for
  exactly this (keysets with rotation, a key id in each ciphertext's prefix, nonces chosen by
  the library, KMS clients for production), and its 1.16 wheel installs and runs on our Python;
- a data key is stored only wrapped by a KEK, with the referral id as associated data (a
  wrapped key cannot be swapped onto another referral); the wrap records the KEK version;
- `KeyEncryptionKey` is the seam a KMS replaces: wrap under the primary version, unwrap under
  the version recorded. `EnvKek` is the local one, from `PII_KEK_KEYS` (`v1:<base64url of 32
  random bytes>,v2:...`) and `PII_KEK_PRIMARY` (the version new data keys are wrapped with).
  Rotation: add a version, make it primary; data keys wrapped before still open;
- nothing here logs, and no error carries key material or a field's value.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final, Protocol
from uuid import UUID

import tink
from tink import aead, secret_key_access
from tink.proto import aes_gcm_pb2, tink_pb2

from services.common.sealing.errors import DataKeyInvalid, KekConfigError, KekVersionUnknown

aead.register()

_VERSION: Final = re.compile(r"^[A-Za-z0-9._-]{1,32}$")
_AES_GCM_URL: Final = "type.googleapis.com/google.crypto.tink.AesGcmKey"


class KeyEncryptionKey(Protocol):
    """Wraps and unwraps data keys; a KMS client can stand in for the local one."""

    @property
    def primary_version(self) -> str: ...

    def wrap(self, plaintext: bytes, associated_data: bytes) -> tuple[str, bytes]:
        """(version used, ciphertext) under the primary version."""
        ...

    def unwrap(self, version: str, ciphertext: bytes, associated_data: bytes) -> bytes: ...


def _raw_aes_gcm(raw: bytes) -> aead.Aead:
    """A Tink AEAD over a raw 256-bit key (RAW prefix: the version is stored beside it)."""
    keyset = tink_pb2.Keyset(primary_key_id=1)
    key = keyset.key.add()
    key.key_data.type_url = _AES_GCM_URL
    key.key_data.value = aes_gcm_pb2.AesGcmKey(version=0, key_value=raw).SerializeToString()
    key.key_data.key_material_type = tink_pb2.KeyData.SYMMETRIC
    key.status = tink_pb2.ENABLED
    key.key_id = 1
    key.output_prefix_type = tink_pb2.RAW
    handle = tink.proto_keyset_format.parse(keyset.SerializeToString(), secret_key_access.TOKEN)
    return handle.primitive(aead.Aead)


class EnvKek:
    """The local KEK: versioned AES-256-GCM keys from the environment."""

    def __init__(self, keys: Mapping[str, bytes], primary: str) -> None:
        if primary not in keys:
            raise KekConfigError(f"PII_KEK_PRIMARY {primary!r} is not a version in PII_KEK_KEYS")
        self._aeads = {version: _raw_aes_gcm(raw) for version, raw in keys.items()}
        self._primary = primary

    @classmethod
    def parse(cls, keys: str | None, primary: str | None) -> EnvKek:
        """From the two variables' values; KekConfigError names the variable at fault."""
        if not keys:
            raise KekConfigError("PII_KEK_KEYS is required (generate it with scripts/secrets.sh)")
        if not primary:
            raise KekConfigError("PII_KEK_PRIMARY is required (the version for new data keys)")
        parsed: dict[str, bytes] = {}
        for entry in keys.split(","):
            version, _, encoded = entry.strip().partition(":")
            if not _VERSION.match(version) or version in parsed:
                raise KekConfigError("PII_KEK_KEYS: each entry is <unique version>:<key>")
            try:
                raw = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4))
            except (binascii.Error, ValueError):
                raw = b""
            if len(raw) != 32:
                raise KekConfigError(
                    f"PII_KEK_KEYS: the key of version {version!r} is not base64url of 32 bytes"
                )
            parsed[version] = raw
        return cls(parsed, primary.strip())

    @property
    def primary_version(self) -> str:
        return self._primary

    def wrap(self, plaintext: bytes, associated_data: bytes) -> tuple[str, bytes]:
        return self._primary, self._aeads[self._primary].encrypt(plaintext, associated_data)

    def unwrap(self, version: str, ciphertext: bytes, associated_data: bytes) -> bytes:
        found = self._aeads.get(version)
        if found is None:
            raise KekVersionUnknown(version)
        clear: bytes = found.decrypt(ciphertext, associated_data)
        return clear


def _wrap_context(referral_id: UUID) -> bytes:
    return f"nsas-dek/1|{referral_id}".encode()


@dataclass(frozen=True)
class WrappedKey:
    """A data key as stored: wrapped by the KEK version named."""

    referral_id: UUID
    kek_version: str
    wrapped: bytes


@dataclass(frozen=True)
class DataKey:
    """One referral's open data key (held in memory only while sealing or opening)."""

    referral_id: UUID
    kek_version: str
    aead: aead.Aead


def new_data_key(referral_id: UUID, kek: KeyEncryptionKey) -> tuple[DataKey, WrappedKey]:
    """A fresh data key for `referral_id`, and its wrapped form to store."""
    handle = tink.new_keyset_handle(aead.aead_key_templates.AES256_GCM)
    serialized = tink.proto_keyset_format.serialize(handle, secret_key_access.TOKEN)
    version, wrapped = kek.wrap(serialized, _wrap_context(referral_id))
    return (
        DataKey(referral_id, version, handle.primitive(aead.Aead)),
        WrappedKey(referral_id, version, wrapped),
    )


def open_data_key(key: WrappedKey, kek: KeyEncryptionKey) -> DataKey:
    """Unwrap a stored data key; DataKeyInvalid if it does not open (not wrapped for this
    referral, or under another key of that version), KekVersionUnknown without its version."""
    try:
        serialized = kek.unwrap(key.kek_version, key.wrapped, _wrap_context(key.referral_id))
        handle = tink.proto_keyset_format.parse(serialized, secret_key_access.TOKEN)
    except tink.TinkError:
        raise DataKeyInvalid(key.referral_id, key.kek_version) from None
    return DataKey(key.referral_id, key.kek_version, handle.primitive(aead.Aead))
