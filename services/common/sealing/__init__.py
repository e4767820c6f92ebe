"""Envelope encryption of personal fields (issue 14): the one API every service uses.

- `seal(conn, kek, referral_id, submission, now)`: make the referral's data key, store it
  wrapped in `keyvault.data_keys` (in the caller's transaction), return the sealed submission;
- `unseal(conn, kek, referral_id, sealed)`: the clear submission, or `DataKeyDestroyed` once
  the referral was erased (`DataKeyNotFound`, `SealedValueInvalid`, `KekVersionUnknown`: see
  `errors`);
- `destroy(conn, referral_id)`: crypto-shredding; every sealed copy becomes unreadable.
Keys and their seam for a KMS are in `keys`, the pure field logic in `fields`, PostgreSQL in
`vault`. Only intake and the gateway hold a KEK; the router and ops never do.
"""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from services.common.sealing.errors import (
    DataKeyDestroyed,
    DataKeyInvalid,
    DataKeyNotFound,
    KekConfigError,
    KekVersionUnknown,
    SealedValueInvalid,
    SealingError,
)
from services.common.sealing.fields import seal_submission, unseal_submission
from services.common.sealing.keys import (
    DataKey,
    EnvKek,
    KeyEncryptionKey,
    WrappedKey,
    new_data_key,
    open_data_key,
)
from services.common.sealing.vault import (
    Executor,
    destroy,
    load_data_key,
    load_wrapped_key,
    store_data_key,
)
from shared import ReferralSubmission, SealedSubmission


async def seal(
    conn: Executor,
    kek: KeyEncryptionKey,
    referral_id: UUID,
    submission: ReferralSubmission,
    now: datetime,
) -> SealedSubmission:
    """A new data key for the referral, stored wrapped; the submission sealed under it."""
    key, wrapped = new_data_key(referral_id, kek)
    if not await store_data_key(conn, wrapped, now):
        raise SealingError(f"referral {referral_id} already has a data key")
    return seal_submission(submission, key)


async def unseal(
    conn: Executor,
    kek: KeyEncryptionKey,
    referral_id: UUID,
    sealed: SealedSubmission | ReferralSubmission,
) -> ReferralSubmission:
    """The clear submission (a clear one is returned as it is)."""
    if isinstance(sealed, ReferralSubmission):
        return sealed
    return unseal_submission(sealed, await load_data_key(conn, referral_id, kek))


__all__ = [
    "DataKey",
    "DataKeyDestroyed",
    "DataKeyInvalid",
    "DataKeyNotFound",
    "EnvKek",
    "Executor",
    "KekConfigError",
    "KekVersionUnknown",
    "KeyEncryptionKey",
    "SealedValueInvalid",
    "SealingError",
    "WrappedKey",
    "destroy",
    "load_data_key",
    "load_wrapped_key",
    "new_data_key",
    "open_data_key",
    "seal",
    "seal_submission",
    "store_data_key",
    "unseal",
    "unseal_submission",
]
