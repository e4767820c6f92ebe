"""Sealing at intake: the one place a clear submission becomes the sealed referral everyone
else sees (issue 14).

An adapter, not a handler: it makes each referral's data key (fresh random key material,
wrapped under the key-encryption key ring) the way the clock and the id source make times and
ids, behind the `Sealer` seam of `ports`; the acceptance use case only calls it, and the tests'
fakes can stand in for it. Its value type (`SealedReferral`) is the seam's, in `ports`.

Rules kept here:
- each accepted referral gets its own data key, made here and stored (wrapped) by the store in
  the same transaction as the referral row and its outbox rows;
- what intake stores (`referrals.submission`) and what it publishes (`referrals.received.v1`) is
  the sealed submission with the `routing` facts; the clear submission lives only in memory for
  the duration of the request;
- `PII_SEALING=off` is a benchmark baseline only (bench/ measures the cost of sealing against
  it): no key is made and the submission goes out clear; the service warns at start-up.
"""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from services.common.postcodes import PostcodeDirectory
from services.common.routing_facts import routing_facts
from services.common.sealing import KeyEncryptionKey, new_data_key, seal_submission
from services.intake.ports import SealedReferral
from shared import ReferralSubmission

__all__ = ["ReferralSealer", "SealedReferral"]


class ReferralSealer:
    """Seals submissions under a fresh data key each, wrapped by `kek` (None: bench baseline)."""

    def __init__(self, kek: KeyEncryptionKey | None, postcodes: PostcodeDirectory) -> None:
        self._kek = kek
        self._postcodes = postcodes

    def __call__(
        self, referral_id: UUID, submission: ReferralSubmission, received_at: datetime
    ) -> SealedReferral:
        routing = routing_facts(submission, received_at, self._postcodes)
        if self._kek is None:
            return SealedReferral(submission, routing, None)
        key, wrapped = new_data_key(referral_id, self._kek)
        return SealedReferral(seal_submission(submission, key), routing, wrapped)
