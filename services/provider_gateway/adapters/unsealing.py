"""Opening an assignment's referral for the provider it is assigned to (issue 14).

Rules kept here:
- the gateway keeps and publishes assignments sealed (its tables, `assignments.<provider>.v1`);
  it unseals only here, when it builds the body of a webhook to the assigned provider or
  answers that provider's own read of its current assignment;
- the clear body is exactly the contract's Assignment (the same JSON as before sealing), so
  Standard Webhooks signing is unchanged;
- errors are the sealing ones: `DataKeyDestroyed` once the referral was erased (the caller
  ends the delivery as `erased`), `DataKeyNotFound`, `SealedValueInvalid`, `KekVersionUnknown`.
"""

from __future__ import annotations

from uuid import UUID

from services.common.sealing import Executor, KeyEncryptionKey, unseal
from shared import Assignment, ReferralSubmission


class VaultOpener:
    """Unseals assignments with data keys read from the key vault (read-only grant)."""

    def __init__(self, vault: Executor, kek: KeyEncryptionKey) -> None:
        self._vault = vault
        self._kek = kek

    async def __call__(self, referral_id: UUID, assignment: Assignment) -> Assignment:
        if isinstance(assignment.referral, ReferralSubmission):
            return assignment
        clear = await unseal(self._vault, self._kek, referral_id, assignment.referral)
        return assignment.model_copy(update={"referral": clear})
