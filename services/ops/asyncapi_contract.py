"""What the contract says of each topic, for the AsyncAPI document (`asyncapi.py`).

Rules kept here: every topic of ../shared/contract.md is listed with its payload model, its
writers, its readers and its key; the identity topics (per agency, per provider) are address
templates with their parameter; every message carries the CloudEvents headers described here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

from shared import topics

HEADERS_SCHEMA: Final = "CloudEventHeaders"
SERVICES: Final = ("intake", "router", "provider_gateway")


@dataclass(frozen=True)
class ContractTopic:
    """A topic as ../shared/contract.md lists it."""

    model: str
    writers: tuple[str, ...]
    readers: str
    key: str


CONTRACT: Final[dict[str, ContractTopic]] = {
    topics.REFERRALS_SUBMITTED: ContractTopic(
        "ReferralSubmission", ("agency systems",), "intake", "submission_id"
    ),
    topics.REFERRALS_RECEIVED: ContractTopic(
        "ReferralReceived", ("intake",), "router, provider gateway", "referral_id"
    ),
    topics.REFERRALS_REJECTED: ContractTopic(
        "ReferralRejected", ("intake",), "agency systems", "submission_id"
    ),
    topics.REFERRALS_DECIDED: ContractTopic(
        "Decision", ("router",), "provider gateway, intake, ops", "referral_id"
    ),
    **{
        topics.assignments_topic(p): ContractTopic(
            "Assignment", ("provider_gateway",), f"the {p} provider's system", "referral_id"
        )
        for p in topics.PROVIDER_CODES
    },
    topics.ASSIGNMENTS_RESPONSES: ContractTopic(
        "ProviderResponse",
        ("provider systems", "provider_gateway"),
        "provider gateway",
        "referral_id",
    ),
    topics.OPS_EVENTS: ContractTopic("OpsEvent", SERVICES, "ops, intake", "referral_id"),
    topics.OPS_ALERTS: ContractTopic("OpsAlert", SERVICES, "ops", "referral_id or none"),
    topics.OPS_DEADLETTER: ContractTopic("DeadLetter", SERVICES, "ops", "the original key"),
}

# The identity topics (contract additions), subscribed by pattern: documented as address
# templates with their parameter, and completed like the contract's topics.
IDENTITY_TOPICS: Final[dict[str, tuple[str, str, ContractTopic]]] = {
    topics.SUBMISSIONS_TOPIC_PATTERN: (
        "referrals.submitted.{agency}.v1",
        "agency",
        ContractTopic("ReferralSubmission", ("that agency's system",), "intake", "submission_id"),
    ),
    topics.RESPONSES_TOPIC_PATTERN: (
        "assignments.responses.{provider}.v1",
        "provider",
        ContractTopic(
            "ProviderResponse", ("that provider's system",), "provider gateway", "referral_id"
        ),
    ),
}

CLOUDEVENT_HEADERS: Final[dict[str, Any]] = {
    "title": HEADERS_SCHEMA,
    "description": "CloudEvents 1.0 Kafka binding, binary mode: the attributes as headers.",
    "type": "object",
    "properties": {
        "ce_id": {"type": "string"},
        "ce_source": {"type": "string", "examples": ["urn:nottssas:intake"]},
        "ce_type": {"type": "string", "examples": ["uk.nottssas.referral.received.v1"]},
        "ce_specversion": {"const": "1.0"},
        "ce_time": {"type": "string", "format": "date-time"},
        "ce_subject": {"type": "string", "description": "the referral id where there is one"},
        "content-type": {"const": "application/json"},
        "traceparent": {
            "type": "string",
            "description": "W3C Trace Context: the referral's trace, from intake to delivery",
        },
    },
    "required": ["ce_id", "ce_source", "ce_type", "ce_specversion"],
}
