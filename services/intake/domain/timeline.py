"""The status timeline an agency reads: which announced steps of a referral it shows.

Rules kept here: the router's decision is a step (`decided`); of the gateway's ops events,
only these delivery states are (the others are operators' business, not the agency's).
"""

from __future__ import annotations

from typing import Final

from shared import ReferralState

TIMELINE_STATES: Final = frozenset(
    {
        ReferralState.DELIVERED,
        ReferralState.DELIVERY_FAILED,
        ReferralState.ACCEPTED,
        ReferralState.CONTACTED,
        ReferralState.DECLINED,
        ReferralState.REROUTED,
        ReferralState.OVERDUE,
    }
)
