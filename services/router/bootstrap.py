"""The one place the router is wired: the policy in force, the clock, the broker, the store, the relay.

`build_broker` wires the subscriber and the dead-letter edge onto a new broker and needs no
database (the wiring test hands it a fake store); `bootstrap` adds the service's core (pool,
migrations, broker starter, tasks: `services.common.startup`) and binds the subscriber to the
PostgreSQL store the lifespan opens. Nothing connects here.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from faststream.kafka import KafkaBroker

from services.common.kafka import dead_letter_middleware, dead_letterer, make_broker
from services.common.ops_outbox import OpsSink, OutboxOps
from services.common.startup import RelayOptions, ServiceCore
from services.router.adapters.store import OUTBOX, DecisionStore
from services.router.config import RouterSettings
from services.router.handlers import Context
from services.router.ports import Decide, DecisionUnits
from services.router.subscribers import register_subscribers
from shared import Service

MIGRATIONS = Path(__file__).parent / "migrations"

# The relay publishes up to RELAY_BATCH rows (RELAY_BATCH / 2 decisions, each with its ops copy)
# concurrently and marks them sent once Kafka has acknowledged them all (a batch a round trip is
# what lets it keep up with a backlog). A crash between the acks and that mark leaves the rows
# unsent; the relay's recovery at the next start finds them on Kafka and marks them instead of
# publishing them again (services/common/outbox_recovery.py).
# Concurrent within the batch: each referral's two rows are on different topics and each
# (topic, key) has one event (its stable id), so there is no order among them to keep.
RELAY_BATCH = 200
RELAY = RelayOptions(OUTBOX, batch_size=RELAY_BATCH, concurrent=True)


def _now() -> datetime:
    return datetime.now(UTC)


def build_decider(settings: RouterSettings) -> Decide:
    """The pure decide function bound to the rules and postcode data in force (read once)."""
    from services.router.engine import load_decider

    return load_decider(rules_path=settings.rules_path, postcodes_csv=settings.postcodes_csv)


def build_broker(
    bootstrap_servers: str, *, store: Callable[[], DecisionUnits], ctx: Context
) -> KafkaBroker:
    """A broker with the router's subscriber and the dead-letter edge; nothing connects yet."""
    return _wire(make_broker(bootstrap_servers, client_id="router"), store=store, ctx=ctx)


def _wire(
    broker: KafkaBroker,
    *,
    store: Callable[[], DecisionUnits],
    ctx: Context,
    ops: OpsSink | None = None,
) -> KafkaBroker:
    # One dead-letterer (and its alert aggregation) for the middleware and the batch handler.
    letters = dead_letterer(Service.ROUTER, lambda: broker, ops=ops)
    broker.add_middleware(
        dead_letter_middleware(Service.ROUTER, lambda: broker, dead_letter=letters)
    )
    register_subscribers(broker, store, ctx, dead_letter=letters)
    return broker


def bootstrap(
    settings: RouterSettings,
    *,
    decide: Decide | None = None,
    clock: Callable[[], datetime] = _now,
) -> ServiceCore:
    """The router, wired: its core (opened by the lifespan) and its subscriber bound to it."""
    ctx = Context(decide=decide or build_decider(settings), now=clock)
    broker = make_broker(
        settings.kafka_bootstrap_servers, client_id="router", security=settings.kafka_security
    )
    core = ServiceCore(Service.ROUTER, settings, settings.database_url, MIGRATIONS, broker)
    # Dead letters and their alerts go through the router's outbox (the relay publishes them).
    ops = OutboxOps(Service.ROUTER, lambda: core.db, OUTBOX)
    _wire(broker, store=lambda: DecisionStore(core.db), ctx=ctx, ops=ops)
    return core
