"""The router's Kafka entry point: `referrals.received.v1` -> the use case, in one transaction.

The subscriber is durable (group `router`, NACK_ON_ERROR: a failed transaction redelivers the
message), parses a typed `ReferralReceived`, runs `handle_received` inside the referral's
transaction, and returns: what it decided leaves through the outbox, not from here. A message
that is not a valid ReferralReceived is dead-lettered by the broker's middleware and acked.
After the commit it counts the decision (codes only) and logs it (codes only).
"""

from __future__ import annotations

from collections.abc import Callable

import structlog
from faststream.kafka import KafkaBroker
from prometheus_client import Counter

from services.common.kafka import durable_subscriber
from services.router.handlers import Context, handle_received
from services.router.ports import DecisionUnits
from shared import ReferralReceived
from shared.topics import REFERRALS_RECEIVED

log = structlog.get_logger(__name__)
GROUP_ID = "router"

DECISIONS = Counter(
    "router_decisions_total",
    "Referrals decided, by pathway, provider, priority and rules version (codes only).",
    ["pathway", "provider", "priority", "rules_version"],
)


def register_subscribers(
    broker: KafkaBroker, store: Callable[[], DecisionUnits], ctx: Context
) -> None:
    """Subscribe the router's handler; `store` gives the store once the lifespan has made it."""

    @durable_subscriber(
        broker,
        REFERRALS_RECEIVED,
        group_id=GROUP_ID,
        title="router/received",
        description="Decides each received referral once and publishes the decision.",
    )
    async def on_received(referral: ReferralReceived) -> None:
        async with store().referral(referral.referral_id) as tx:
            decided = await handle_received(tx, referral, ctx)
        decision = decided.decision
        provider = decision.provider.value if decision.provider else None
        if decided.new:
            DECISIONS.labels(
                pathway=decision.pathway.value,
                provider=provider or "none",
                priority=decision.priority.value,
                rules_version=decision.rules_version,
            ).inc()
        log.info(
            "referral decided",
            new=decided.new,
            pathway=decision.pathway.value,
            provider=provider,
            priority=decision.priority.value,
            rules_version=decision.rules_version,
        )
