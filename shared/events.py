"""The events that flow between services: received, rejected, decided, assigned, answered.

Every event here is the `data` of a CloudEvent (binary mode, see `shared.cloudevents`).
"""

from __future__ import annotations

from typing import Annotated, Any, Self
from uuid import UUID

from pydantic import AwareDatetime, Field, StringConstraints, model_validator

from shared._base import ContractModel, FieldError, field_problem
from shared.enums import Area, NotifyParty, Pathway, Priority, Provider, ResponseStatus
from shared.sealed import EitherSubmission, RoutingFacts, SealedSubmission


class ReferralReceived(ContractModel):
    """A submission intake accepted and stored; the router's input.

    Intake publishes the sealed form (personal fields encrypted, see `shared.sealed`) with the
    `routing` facts; the clear form is still read (the offline `decide`, older events).
    """

    referral_id: UUID
    received_at: AwareDatetime
    referrer_agency: str
    submission: EitherSubmission
    routing: RoutingFacts | None = None

    @model_validator(mode="after")
    def _sealed_has_routing(self) -> Self:
        if isinstance(self.submission, SealedSubmission) and self.routing is None:
            raise field_problem("routing", "missing", "is required with a sealed submission")
        return self


class ReferralRejected(ContractModel):
    """A submission intake refused; names the fields at fault and carries no personal data."""

    submission_id: str | None
    rejected_at: AwareDatetime
    referrer_agency: str | None = None
    errors: list[FieldError]


class Locality(ContractModel):
    """Where the victim lives, as far as routing is concerned."""

    local_authority_code: str | None
    area: Area


class TraceStep(ContractModel):
    """One rule that fired, and the facts it used."""

    rule: str
    facts: dict[str, Any] = Field(default_factory=dict)


class Decision(ContractModel):
    """The router's decision for one referral, with the rules version and the trace that explain it."""

    referral_id: UUID | None
    submission_id: str
    decided_at: AwareDatetime
    rules_version: str
    pathway: Pathway
    provider: Provider | None
    priority: Priority
    notify: list[NotifyParty] = Field(default_factory=list)
    locality: Locality
    trace: list[TraceStep] = Field(default_factory=list)
    signpost: str | None = None


class Assignment(ContractModel):
    """What a provider receives: the decision plus the referral details needed to make contact.

    `assignment_id` is stable for one (referral, provider, routing round): it is the
    `webhook-id` of every delivery attempt and the receiver's dedupe key.
    """

    assignment_id: str
    referral_id: UUID
    provider: Provider
    assigned_at: AwareDatetime
    reason: Annotated[str, StringConstraints(max_length=64)] = "decision"
    decision: Decision
    # Clear in the webhook body (the gateway unseals it for the assigned provider only);
    # sealed on `assignments.<provider>.v1` and in the gateway's tables.
    referral: EitherSubmission


class ThinAssignment(ContractModel):
    """A thin delivery (claim check): the assignment without the referral's personal details.

    The provider fetches the details from `details_url` (`GET /v1/assignments/{referral_id}`
    with its API key); each fetch is audited, and after erasure it answers 410.
    """

    assignment_id: str
    referral_id: UUID
    provider: Provider
    assigned_at: AwareDatetime
    reason: Annotated[str, StringConstraints(max_length=64)] = "decision"
    decision: Decision
    details_url: Annotated[str, StringConstraints(max_length=2048)]


class ProviderResponse(ContractModel):
    """A provider's answer about one assignment."""

    referral_id: UUID
    provider: Provider
    status: ResponseStatus
    reason: Annotated[str, StringConstraints(max_length=500)] | None = None
    at: AwareDatetime
    assignment_id: str | None = None


class DecisionRequestError(ContractModel):
    """The line the offline `decide` command writes for an input it cannot decide."""

    submission_id: str | None
    error: str = Field(min_length=1)
