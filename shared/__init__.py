"""Contract v1 of referral routing: event models, enums, topic names and CloudEvents headers.

Contracts only: no I/O and no behaviour beyond validation (see ../shared/contract.md).
"""

from shared._base import ContractModel, FieldError, field_errors
from shared.cloudevents import CloudEventAttributes, ce_headers, read_ce_headers
from shared.enums import (
    Area,
    Behaviour,
    ContactMethod,
    Gender,
    NotifyParty,
    Pathway,
    Priority,
    Provider,
    ReferrerKind,
    Relationship,
    ResponseStatus,
    RiskLevel,
)
from shared.events import (
    Assignment,
    Decision,
    DecisionRequestError,
    Locality,
    ProviderResponse,
    ReferralReceived,
    ReferralRejected,
    ThinAssignment,
    TraceStep,
)
from shared.ops import AlertKind, DeadLetter, OpsAlert, OpsEvent, ReferralState, Service
from shared.sealed import RoutingFacts, Sealed, SealedSubmission
from shared.submission import ReferralSubmission, normalise_postcode

__all__ = [
    "AlertKind",
    "Area",
    "Assignment",
    "Behaviour",
    "CloudEventAttributes",
    "ContactMethod",
    "ContractModel",
    "DeadLetter",
    "Decision",
    "DecisionRequestError",
    "FieldError",
    "Gender",
    "Locality",
    "NotifyParty",
    "OpsAlert",
    "OpsEvent",
    "Pathway",
    "Priority",
    "Provider",
    "ProviderResponse",
    "ReferralReceived",
    "ReferralRejected",
    "ReferralState",
    "ReferralSubmission",
    "ReferrerKind",
    "Relationship",
    "ResponseStatus",
    "RiskLevel",
    "RoutingFacts",
    "Sealed",
    "SealedSubmission",
    "Service",
    "ThinAssignment",
    "TraceStep",
    "ce_headers",
    "field_errors",
    "normalise_postcode",
    "read_ce_headers",
]
