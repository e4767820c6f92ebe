"""Why a personal field could not be sealed or opened.

    SealingError
     +-- KekConfigError       PII_KEK_KEYS / PII_KEK_PRIMARY missing or malformed
     +-- KekVersionUnknown    a data key is wrapped by a KEK version this process does not hold
     +-- DataKeyNotFound      no data key was ever stored for the referral
     +-- DataKeyDestroyed     the referral's data key was destroyed (erasure): nothing opens it
     +-- DataKeyInvalid       the stored key does not unwrap under its KEK version (another
                              KEK of the same name, or a tampered or swapped row)
     +-- SealedValueInvalid   a sealed value fails authentication (tampered, or moved to another
                              field or referral), or is not a sealed value of this key

Messages name the referral and the field path only, never a value.
"""

from __future__ import annotations

from uuid import UUID


class SealingError(Exception):
    """Base of every sealing failure."""


class KekConfigError(SealingError):
    pass


class KekVersionUnknown(SealingError):
    def __init__(self, version: str) -> None:
        super().__init__(f"key-encryption key version {version!r} is not configured")
        self.version = version


class DataKeyNotFound(SealingError):
    def __init__(self, referral_id: UUID) -> None:
        super().__init__(f"no data key for referral {referral_id}")
        self.referral_id = referral_id


class DataKeyDestroyed(SealingError):
    def __init__(self, referral_id: UUID) -> None:
        super().__init__(f"the data key of referral {referral_id} was destroyed")
        self.referral_id = referral_id


class DataKeyInvalid(SealingError):
    def __init__(self, referral_id: UUID, version: str) -> None:
        super().__init__(
            f"the data key of referral {referral_id} does not unwrap under KEK version {version!r}"
        )
        self.referral_id = referral_id
        self.version = version


class SealedValueInvalid(SealingError):
    def __init__(self, referral_id: UUID, path: str, problem: str) -> None:
        super().__init__(f"{path} of referral {referral_id}: {problem}")
        self.referral_id = referral_id
        self.path = path
