"""The gateway's errors, split by what the caller should do about them.

    GatewayError
     +-- ResponseRefused           a provider response that cannot be applied
     |    +-- NotCurrentAssignment  the provider has no current assignment for that referral (404)
     |    +-- InvalidTransition     the assignment cannot move to that status (409)
     |    +-- ReferralErased        its personal data was erased: it cannot be handed on (410)
     +-- ProviderUnauthorised      no provider holds the API key presented (401)

A delivery that fails is not an error here: it is an outcome (see `retry`).
"""

from __future__ import annotations


class GatewayError(Exception):
    """Base of the gateway's refusals."""


class ResponseRefused(GatewayError):
    """A provider response that cannot be applied; `code` is safe for ops topics."""

    code = "response_refused"


class NotCurrentAssignment(ResponseRefused):
    code = "assignment_not_current"


class InvalidTransition(ResponseRefused):
    code = "invalid_transition"


class ProviderUnauthorised(GatewayError):
    """The presented API key belongs to no provider."""


class ReferralErased(ResponseRefused):
    """The referral's personal data was erased: its assignment body is gone."""

    code = "referral_erased"
