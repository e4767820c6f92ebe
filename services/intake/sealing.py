"""Sealing at intake: the one place a clear submission becomes the sealed referral everyone
else sees (issue 14).

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

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from services.common.postcodes import PostcodeDirectory
from services.common.routing_facts import routing_facts
from services.common.sealing import KeyEncryptionKey, WrappedKey, new_data_key, seal_submission
from shared import ReferralSubmission, RoutingFacts, SealedSubmission


@dataclass(frozen=True)
class SealedReferral:
    """What intake keeps and publishes of one accepted submission."""

    submission: SealedSubmission | ReferralSubmission
    routing: RoutingFacts
    data_key: WrappedKey | None


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
