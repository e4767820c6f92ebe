"""Ops events, alerts and dead letters: ids, states, codes, counts and timings only.

Rule kept here: nothing on an `ops.*` topic carries personal data. These models therefore
have no free-text field; reasons are codes from closed sets, and a dead letter references
the quarantined original (kept in the owning service's database) instead of carrying it.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated
from uuid import UUID

from pydantic import AwareDatetime, Field, StringConstraints

from shared._base import ContractModel
from shared.enums import Pathway, Priority, Provider

Code = Annotated[str, StringConstraints(max_length=80, pattern=r"^[a-z0-9_.:\-]+$")]


class Service(StrEnum):
    INTAKE = "intake"
    ROUTER = "router"
    PROVIDER_GATEWAY = "provider_gateway"


class ReferralState(StrEnum):
    RECEIVED = "received"
    REJECTED = "rejected"
    DECIDED = "decided"
    DELIVERY_ATTEMPTED = "delivery_attempted"
    DELIVERED = "delivered"
    DELIVERY_FAILED = "delivery_failed"
    ACCEPTED = "accepted"
    CONTACTED = "contacted"
    DECLINED = "declined"
    REROUTED = "rerouted"
    OVERDUE = "overdue"
    # The referral's personal data was erased (its data key destroyed, its copies removed):
    # by an operator (reason_code `operator_request`) or by the retention job (`retention`).
    ERASED = "erased"


class OpsEvent(ContractModel):
    """One state change of one referral."""

    event_id: UUID
    at: AwareDatetime
    service: Service
    state: ReferralState
    referral_id: UUID | None = None
    submission_ref: Code | None = None
    pathway: Pathway | None = None
    provider: Provider | None = None
    priority: Priority | None = None
    rules_version: Code | None = None
    attempt: int | None = None
    status_code: int | None = None
    latency_ms: float | None = None
    reason_code: Code | None = None


class AlertKind(StrEnum):
    DEAD_LETTERED = "dead_lettered"
    DELIVERY_EXHAUSTED = "delivery_exhausted"
    ENDPOINT_DISABLED = "endpoint_disabled"
    SLA_BREACHED = "sla_breached"
    DECLINED_BY_LEAD = "declined_by_lead"
    CONSUMER_LAG = "consumer_lag"
    # A decision with no referral details, or details with no decision, after the allowed time.
    REFERRAL_HALF_MISSING = "referral_half_missing"
    # A provider endpoint's circuit breaker opened (it keeps failing) / closed (it answers again).
    ENDPOINT_UNHEALTHY = "endpoint_unhealthy"
    ENDPOINT_RECOVERED = "endpoint_recovered"


class OpsAlert(ContractModel):
    """Something that needs a person."""

    alert_id: UUID
    at: AwareDatetime
    service: Service
    kind: AlertKind
    severity: Annotated[str, StringConstraints(pattern=r"^(warning|critical)$")] = "warning"
    referral_id: UUID | None = None
    provider: Provider | None = None
    reason_code: Code | None = None
    count: int | None = None
    # For consumer_lag: which group is behind on which topic (count: by how many messages).
    consumer_group: Code | None = None
    topic: Code | None = None


class DeadLetter(ContractModel):
    """A message a consumer could not process, by reference: where it came from and why."""

    dead_letter_id: UUID
    at: AwareDatetime
    service: Service
    source_topic: str
    source_partition: int | None = None
    source_offset: int | None = None
    reason_code: Code
    error_fields: Annotated[list[Code], Field(max_length=50)] = Field(default_factory=list)
