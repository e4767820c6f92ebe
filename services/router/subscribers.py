"""The router's Kafka entry point: `referrals.received.v1` -> the use case, a batch at a time.

The subscriber is durable (group `router`, NACK_ON_ERROR) and takes the records in batches
(up to `BATCH_MAX` records, waiting at most `BATCH_WAIT_MS` for them): it reads each record alone
(`kafka_batch.read_record`: the edge a single message goes through), decides the valid ones in
ONE transaction (`handle_batch`: decisions and their outbox rows), then dead-letters the records
that are not valid ReferralReceived events, each with its reason, and returns, after which the
batch's offsets are committed once. So a bad record is refused alone and the rest of its batch
takes effect; a failed transaction (or dead letter) raises and redelivers the whole batch, whose
decisions are then recalled, not remade. What it decided leaves through the outbox, not from
here. After the commit it counts the decisions (codes only) and logs one line per batch (counts).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from uuid import UUID

import structlog
from faststream.kafka import KafkaBroker
from faststream.kafka.annotations import KafkaMessage
from prometheus_client import Counter

from services.common.kafka import POISON, DeadLetterer
from services.common.kafka_batch import batch_subscriber, read_record, record_span
from services.router.handlers import Context, Decided, handle_batch
from services.router.ports import DecisionUnits
from shared import ReferralReceived
from shared.topics import REFERRALS_RECEIVED

log = structlog.get_logger(__name__)
GROUP_ID = "router"
# A batch is at most this many records (one transaction, one offset commit), and the consumer
# waits at most this long to fill it: a lone referral is decided within BATCH_WAIT_MS.
BATCH_MAX = 100
BATCH_WAIT_MS = 20

DECISIONS = Counter(
    "router_decisions_total",
    "Referrals decided, by pathway, provider, priority and rules version (codes only).",
    ["pathway", "provider", "priority", "rules_version"],
)


def register_subscribers(
    broker: KafkaBroker,
    store: Callable[[], DecisionUnits],
    ctx: Context,
    *,
    dead_letter: DeadLetterer,
) -> None:
    """Subscribe the router's handler; `store` gives the store once the lifespan has made it."""

    @batch_subscriber(
        broker,
        REFERRALS_RECEIVED,
        group_id=GROUP_ID,
        max_records=BATCH_MAX,
        timeout_ms=BATCH_WAIT_MS,
        title="router/received",
        description="Decides each received referral once and publishes the decision.",
    )
    async def on_received(message: KafkaMessage) -> None:
        records: tuple[Any, ...] = message.raw_message
        traces: dict[UUID, dict[str, str]] = {}
        referrals: list[ReferralReceived] = []
        refused: list[tuple[Any, BaseException]] = []
        for record in records:
            try:
                referral, headers = await read_record(
                    record, ReferralReceived, parameter="referral"
                )
            except POISON as exc:
                refused.append((record, exc))
                continue
            referrals.append(referral)
            traces.setdefault(referral.referral_id, headers)
        decided: list[Decided] = []
        if referrals:
            async with store().batch() as tx:
                decided = await handle_batch(
                    tx,
                    referrals,
                    ctx,
                    within=lambda r: record_span(REFERRALS_RECEIVED, traces[r.referral_id]),
                )
        for record, error in refused:  # after the commit: a redelivery would letter them again
            await dead_letter(record, error)
        for d in decided:
            if d.new:
                decision = d.decision
                DECISIONS.labels(
                    pathway=decision.pathway.value,
                    provider=decision.provider.value if decision.provider else "none",
                    priority=decision.priority.value,
                    rules_version=decision.rules_version,
                ).inc()
        log.info(
            "referrals decided",
            batch=len(records),
            new=sum(d.new for d in decided),
            recalled=sum(not d.new for d in decided),
            dead_lettered=len(refused),
        )
