"""The gateway's Kafka subscribers: both halves of each referral, and provider answers.

Each subscriber states its group and ack policy (NACK_ON_ERROR: an error redelivers), parses a
typed body, runs one handler inside the referral's locked transaction, and returns. A message
that can never be applied (a decision without a referral id, an answer for an assignment that
is not the provider's current one) is a PoisonMessage: dead-lettered by reference, then acked.

Provider answers come on two kinds of topic. On `assignments.responses.<provider>.v1` the
provider is the topic's (the broker's ACLs let only that provider's principal write it): an
answer whose body names another provider is dead-lettered `provider_mismatch` and takes no
effect, and a topic naming no provider we know is dead-lettered `unknown_provider`. On the
shared `assignments.responses.v1` (v1 clients, behind the bridge principal, and the gateway's
own echo of HTTP answers) the body's `provider` is taken as before.

Intake's `erased` events on `ops.events.v1` are applied by `handlers.erasure` (group
`provider-gateway-erasures`); every other ops event is acked and ignored.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

import structlog
from faststream.kafka import KafkaBroker, KafkaMessage

from services.common.kafka import PoisonMessage, durable_subscriber
from services.common.topic_identity import durable_pattern_subscriber, record_topic
from services.provider_gateway.domain import ResponseRefused
from services.provider_gateway.handlers import (
    Context,
    record_decision,
    record_received,
    record_response,
)
from services.provider_gateway.handlers.erasure import is_intake_erasure, record_erasure
from services.provider_gateway.ports import ErasureUnits, ReferralUnits
from shared import Assignment, Decision, OpsEvent, Provider, ProviderResponse, ReferralReceived
from shared.topics import (
    ASSIGNMENTS_RESPONSES,
    OPS_EVENTS,
    REFERRALS_DECIDED,
    REFERRALS_RECEIVED,
    RESPONSES_TOPIC_PATTERN,
    provider_of_topic,
)

log = structlog.get_logger(__name__)


def _assigned(assignment: Assignment | None, half: str) -> None:
    if assignment is None:
        log.info("referral half stored", half=half)
    else:
        log.info(
            "assignment created",
            half=half,
            assignment_id=assignment.assignment_id,
            provider=assignment.provider.value,
        )


def register_subscribers(
    broker: KafkaBroker, store: Callable[[], ReferralUnits], ctx: Context
) -> None:
    """Subscribe the three handlers; `store` gives the store once the lifespan has made it."""

    @durable_subscriber(
        broker,
        REFERRALS_RECEIVED,
        group_id="provider-gateway-received",
        title="provider_gateway/received",
        description="Referral details (ReferralReceived), kept to build assignments.",
    )
    async def on_received(event: ReferralReceived) -> None:
        async with store().referral(event.referral_id) as tx:
            assignment = await record_received(tx, event, ctx)
        _assigned(assignment, "received")

    @durable_subscriber(
        broker,
        REFERRALS_DECIDED,
        group_id="provider-gateway-decisions",
        title="provider_gateway/decisions",
        description="Routing decisions (Decision); one assignment per referral.",
    )
    async def on_decided(decision: Decision) -> None:
        if decision.referral_id is None:
            raise PoisonMessage("decision_without_referral_id")
        async with store().referral(decision.referral_id) as tx:
            assignment = await record_decision(tx, decision, ctx)
        _assigned(assignment, "decided")

    async def answer(response: ProviderResponse) -> None:
        try:
            async with store().referral(response.referral_id) as tx:
                answered = await record_response(tx, response, channel="kafka", ctx=ctx)
        except ResponseRefused as exc:
            raise PoisonMessage(exc.code) from None
        log.info(
            "provider answered",
            channel="kafka",
            provider=response.provider.value,
            assignment_id=answered.assignment_id,
            state=answered.state.value,
            duplicate=answered.duplicate,
        )

    @durable_subscriber(
        broker,
        ASSIGNMENTS_RESPONSES,
        group_id="provider-gateway-responses",
        title="provider_gateway/responses",
        description="Provider answers (ProviderResponse): accepted, contacted or declined.",
    )
    async def on_response(response: ProviderResponse) -> None:
        await answer(response)

    @durable_pattern_subscriber(
        broker,
        RESPONSES_TOPIC_PATTERN,
        group_id="provider-gateway-provider-responses",
        title="provider_gateway/provider-responses",
        description="Answers on each provider's own topic; the provider is the topic's.",
    )
    async def on_provider_response(response: ProviderResponse, msg: KafkaMessage) -> None:
        await answer(_as_topic_provider(response, record_topic(msg)))


def register_erasure_subscriber(
    broker: KafkaBroker, store: Callable[[], ErasureUnits], now: Callable[[], datetime]
) -> None:
    """Subscribe to `ops.events.v1` for intake's erasures (group provider-gateway-erasures)."""

    @durable_subscriber(
        broker,
        OPS_EVENTS,
        group_id="provider-gateway-erasures",
        title="provider_gateway/erasures",
        description="Intake's `erased` ops events: the gateway forgets the referral's details.",
    )
    async def on_ops_event(event: OpsEvent) -> None:
        if not is_intake_erasure(event):
            return
        assert event.referral_id is not None
        async with store().referral(event.referral_id) as tx:
            ended = await record_erasure(tx, event, now())
        structlog.contextvars.bind_contextvars(referral_id=str(event.referral_id))
        log.info("referral erased", deliveries_ended=ended, duplicate=ended is None)


def _as_topic_provider(response: ProviderResponse, topic: str) -> ProviderResponse:
    """The answer, if its body speaks for the provider whose topic it came on."""
    named = provider_of_topic(topic)
    if named not in {p.value for p in Provider}:
        raise PoisonMessage("unknown_provider")
    if response.provider.value != named:
        raise PoisonMessage("provider_mismatch", ["provider"])
    return response
