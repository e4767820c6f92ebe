"""The gateway's pure rules: assignments and their rounds, retries, and the acceptance SLA.

Standard library and `shared` contracts only: no I/O, no clock, no logging.
"""

from services.provider_gateway.domain.assignments import (
    LEAD_PROVIDER,
    TRANSITIONS,
    Reason,
    State,
    after_response,
    assignment_id,
    first_assignment,
    next_round,
    reroute_target,
)
from services.provider_gateway.domain.errors import (
    GatewayError,
    InvalidTransition,
    NotCurrentAssignment,
    ProviderUnauthorised,
    ReferralErased,
    ResponseRefused,
)
from services.provider_gateway.domain.retry import (
    DEFAULT_SCHEDULE,
    Delivered,
    GiveUp,
    Outcome,
    RetryAt,
    RetryPolicy,
    Step,
    classify,
    parse_retry_after,
)
from services.provider_gateway.domain.sla import SlaPolicy

__all__ = [
    "DEFAULT_SCHEDULE",
    "LEAD_PROVIDER",
    "TRANSITIONS",
    "Delivered",
    "GatewayError",
    "GiveUp",
    "InvalidTransition",
    "NotCurrentAssignment",
    "Outcome",
    "ProviderUnauthorised",
    "Reason",
    "ReferralErased",
    "ResponseRefused",
    "RetryAt",
    "RetryPolicy",
    "SlaPolicy",
    "State",
    "Step",
    "after_response",
    "assignment_id",
    "classify",
    "first_assignment",
    "next_round",
    "parse_retry_after",
    "reroute_target",
]
