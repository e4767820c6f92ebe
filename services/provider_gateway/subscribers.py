"""The gateway's Kafka subscribers: both halves of each referral, and provider answers.

Each subscriber states its group and ack policy (NACK_ON_ERROR: an error redelivers), parses a
typed body, runs one handler inside the referral's locked transaction, and returns. A message
that can never be applied (a decision without a referral id, an answer for an assignment that
is not the provider's current one) is a PoisonMessage: dead-lettered by reference, then acked.

The two halves (`referrals.received.v1`, `referrals.decided.v1`) are taken in batches (up to
`BATCH_MAX` records, waiting at most `BATCH_WAIT_MS`), as the router takes its input: each record
is read alone through the single-message edge (`kafka_batch.read_record`), the valid ones are
stored in ONE transaction locking each of their referrals (`adapters.referral_batch`), each by
the single message's use case inside its own trace (`record_span`), then each bad record is
dead-lettered with its reason, and the batch's offsets are committed once. A failed transaction
raises and redelivers the whole batch, whose halves are then found stored and change nothing
(one decision per referral, one assignment, one webhook-id).

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

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any, TypeVar

import structlog
from faststream.kafka import KafkaBroker, KafkaMessage

from services.common.kafka import POISON, DeadLetterer, PoisonMessage, durable_subscriber
from services.common.kafka_batch import batch_subscriber, read_record, record_span
from services.common.topic_identity import durable_pattern_subscriber, record_topic
from services.provider_gateway.domain import ResponseRefused
from services.provider_gateway.handlers import (
    Context,
    record_decision,
    record_received,
    record_response,
)
from services.provider_gateway.handlers.erasure import is_intake_erasure, record_erasure
from services.provider_gateway.ports import (
    ErasureUnits,
    ReferralBatchUnits,
    ReferralUnit,
    ReferralUnits,
)
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
Half = TypeVar("Half", ReferralReceived, Decision)
# A batch is at most BATCH_MAX records of one topic (one transaction, one offset commit), and the
# consumer waits at most BATCH_WAIT_MS to fill it: a lone half is stored within that.
BATCH_MAX = 100
BATCH_WAIT_MS = 20


def _assigned(assignment: Assignment, half: str) -> None:
    log.info(
        "assignment created",
        half=half,
        assignment_id=assignment.assignment_id,
        provider=assignment.provider.value,
    )


def register_subscribers(
    broker: KafkaBroker,
    store: Callable[[], ReferralUnits],
    ctx: Context,
    *,
    batches: Callable[[], ReferralBatchUnits],
    dead_letter: DeadLetterer,
) -> None:
    """Subscribe the handlers; `store` and `batches` give the stores once the lifespan has made
    them; `dead_letter` letters a bad record of a batch (the middleware letters the others)."""

    _halves_subscriber(
        broker, REFERRALS_RECEIVED, "provider-gateway-received", ReferralReceived, "event",
        record_received, "Referral details (ReferralReceived), kept to build assignments.",
        batches, ctx, dead_letter,
    )  # fmt: skip
    _halves_subscriber(
        broker, REFERRALS_DECIDED, "provider-gateway-decisions", Decision, "decision",
        record_decision, "Routing decisions (Decision); one assignment per referral.",
        batches, ctx, dead_letter,
    )  # fmt: skip

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


def _halves_subscriber(  # noqa: PLR0917 - one subscriber's parts, each named
    broker: KafkaBroker,
    topic: str,
    group: str,
    model: type[Half],
    parameter: str,
    handle: Callable[[ReferralUnit, Half, Context], Awaitable[Assignment | None]],
    description: str,
    batches: Callable[[], ReferralBatchUnits],
    ctx: Context,
    dead_letter: DeadLetterer,
) -> None:
    """A batch subscriber storing one half of each referral of a batch in one transaction."""
    half = "received" if topic == REFERRALS_RECEIVED else "decided"

    @batch_subscriber(
        broker,
        topic,
        group_id=group,
        max_records=BATCH_MAX,
        timeout_ms=BATCH_WAIT_MS,
        title=f"provider_gateway/{group.rsplit('-', 1)[-1]}",
        description=description,
    )
    async def on_batch(message: KafkaMessage) -> None:
        records: tuple[Any, ...] = message.raw_message
        good: list[tuple[Half, dict[str, str]]] = []
        refused: list[tuple[Any, BaseException]] = []
        for record in records:
            try:
                event, headers = await read_record(record, model, parameter=parameter)
                if event.referral_id is None:
                    raise PoisonMessage("decision_without_referral_id")
            except POISON as exc:
                refused.append((record, exc))
                continue
            good.append((event, headers))
        made: list[Assignment] = []
        if good:
            async with batches().referrals(e.referral_id for e, _ in good if e.referral_id) as unit:
                for event, headers in good:
                    assert event.referral_id is not None  # refused above otherwise
                    with record_span(topic, headers):
                        assignment = await handle(unit(event.referral_id), event, ctx)
                    if assignment is not None:
                        made.append(assignment)
        for record, error in refused:  # after the commit: a redelivery would letter them again
            await dead_letter(record, error)
        for assignment in made:
            _assigned(assignment, half)
        log.info("referral halves stored", half=half, batch=len(records),
                 assigned=len(made), dead_lettered=len(refused))  # fmt: skip


def register_erasure_subscriber(
    broker: KafkaBroker,
    store: Callable[[], ErasureUnits],
    now: Callable[[], datetime],
    *,
    dead_letter: DeadLetterer,
) -> None:
    """Subscribe to `ops.events.v1` for intake's erasures (group provider-gateway-erasures).

    Every service's ops events pass here and nearly none is an erasure, so they are taken in
    batches (each record read alone, a bad one dead-lettered with its reason after the batch's
    erasures are applied, then the offsets committed once); each erasure is applied in its own
    referral's locked transaction, and an error raises and redelivers the batch, whose
    erasures are then found applied (`record_erasure` is once per referral).
    """

    @batch_subscriber(
        broker,
        OPS_EVENTS,
        group_id="provider-gateway-erasures",
        max_records=BATCH_MAX,
        timeout_ms=BATCH_WAIT_MS,
        title="provider_gateway/erasures",
        description="Intake's `erased` ops events: the gateway forgets the referral's details.",
    )
    async def on_ops_events(message: KafkaMessage) -> None:
        records: tuple[Any, ...] = message.raw_message
        refused: list[tuple[Any, BaseException]] = []
        for record in records:
            try:
                event, headers = await read_record(record, OpsEvent, parameter="event")
            except POISON as exc:
                refused.append((record, exc))
                continue
            if not is_intake_erasure(event):
                continue
            assert event.referral_id is not None
            with record_span(OPS_EVENTS, headers):
                async with store().referral(event.referral_id) as tx:
                    ended = await record_erasure(tx, event, now())
                log.info(
                    "referral erased",
                    referral_id=str(event.referral_id),
                    deliveries_ended=ended,
                    duplicate=ended is None,
                )
        for record, error in refused:
            await dead_letter(record, error)


def _as_topic_provider(response: ProviderResponse, topic: str) -> ProviderResponse:
    """The answer, if its body speaks for the provider whose topic it came on."""
    named = provider_of_topic(topic)
    if named not in {p.value for p in Provider}:
        raise PoisonMessage("unknown_provider")
    if response.provider.value != named:
        raise PoisonMessage("provider_mismatch", ["provider"])
    return response
