"""The one place intake is wired: pool, stores, clock, ids, sealer, broker, relay, loops.

`build_broker` wires the subscribers and the dead-letter edge onto a new broker and needs no
database (the wiring test hands it fakes); `bootstrap` adds the service's core (pool,
migrations, broker starter, tasks: `services.common.startup`) and binds the subscribers and the
HTTP routes to the PostgreSQL stores the lifespan opens. Nothing connects here: the key ring is
only parsed (a ring that does not parse stops intake now, naming the variable), the sealer is
made by the lifespan (`prepare`: it loads the postcode directory) before the broker starts.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from uuid import UUID, uuid4

import structlog
from faststream.kafka import KafkaBroker

from services.common.kafka import dead_letter_middleware, dead_letterer, make_broker
from services.common.ops_outbox import OpsSink, OutboxOps
from services.common.postcode_data import load_postcode_index
from services.common.sealing import EnvKek
from services.common.startup import RelayOptions, ServiceCore
from services.intake.adapters.erasure_store import ErasureStore
from services.intake.adapters.sealer import ReferralSealer
from services.intake.adapters.store import OUTBOX, IntakeStore
from services.intake.config import IntakeSettings
from services.intake.domain import Acceptance
from services.intake.handlers import accept_submission, retention_schedule
from services.intake.subscribers import Wiring, register_subscribers
from shared import ReferralSubmission, Service

log = structlog.get_logger(__name__)
MIGRATIONS = Path(__file__).parent / "migrations"


def _now() -> datetime:
    return datetime.now(UTC)


def relay_options(settings: IntakeSettings) -> RelayOptions:
    """Intake's relay: concurrent (each referral is its own key, no two rows need each other's
    order), with the batch size and timeouts of its settings."""
    return RelayOptions(
        OUTBOX,
        batch_size=settings.relay_batch_size,
        concurrent=True,
        publish_timeout_seconds=settings.relay_publish_timeout_seconds,
        idle_poll_seconds=settings.relay_idle_poll_seconds,
    )


@dataclass
class Intake:
    """Intake, wired: its core (opened by the lifespan), its stores, clock, ids and sealer."""

    core: ServiceCore
    settings: IntakeSettings
    kek: EnvKek
    now: Callable[[], datetime] = _now
    new_id: Callable[[], UUID] = uuid4
    sealer: ReferralSealer | None = field(default=None, init=False)

    @property
    def store(self) -> IntakeStore:
        return IntakeStore(self.core.db)

    @property
    def erasures(self) -> ErasureStore:
        return ErasureStore(self.core.db)

    async def accept(
        self,
        submission: ReferralSubmission,
        *,
        agency_id: str,
        idempotency_key: str | None,
        channel: str,
    ) -> Acceptance:
        """`accept_submission` with this process's store, clock, ids, clock-skew allowance
        and sealer."""
        if self.sealer is None:
            raise RuntimeError("intake is not started")
        return await accept_submission(
            self.store,
            submission,
            agency_id=agency_id,
            idempotency_key=idempotency_key,
            channel=channel,
            now=self.now,
            new_id=self.new_id,
            clock_skew=timedelta(seconds=self.settings.clock_skew_seconds),
            seal=self.sealer,
        )

    async def prepare(self, _core: ServiceCore) -> None:
        """Make the sealer (the lifespan's `prepare`, before any message is consumed)."""
        postcodes = await asyncio.to_thread(load_postcode_index, self.settings.postcodes_csv)
        if not self.settings.pii_sealing:
            log.warning("personal data sealing is OFF: a benchmark baseline only (PII_SEALING)")
        self.sealer = ReferralSealer(self.kek if self.settings.pii_sealing else None, postcodes)

    @asynccontextmanager
    async def loops(self, core: ServiceCore) -> AsyncIterator[None]:
        """Intake's own loop (the lifespan's `extra`): the retention job, if it runs here."""
        every = self.settings.retention_interval_seconds
        if every:  # docs/privacy.md: closed referrals erased
            days = self.settings.retention_days
            job = retention_schedule(self.erasures, days=days, every_seconds=every, now=self.now)
            core.tasks.start("retention", job)
        yield


def build_broker(bootstrap_servers: str, wiring: Wiring) -> KafkaBroker:
    """A broker with intake's subscribers and the dead-letter edge; nothing connects yet."""
    return _wire(make_broker(bootstrap_servers, client_id="intake"), wiring)


def _wire(broker: KafkaBroker, wiring: Wiring, ops: OpsSink | None = None) -> KafkaBroker:
    # One dead-letterer (and its alert aggregation) for the middleware and the batch handlers.
    letters = dead_letterer(Service.INTAKE, lambda: broker, ops=ops)
    broker.add_middleware(
        dead_letter_middleware(Service.INTAKE, lambda: broker, dead_letter=letters)
    )
    register_subscribers(broker, wiring, dead_letter=letters)
    return broker


def bootstrap(settings: IntakeSettings, *, clock: Callable[[], datetime] = _now) -> Intake:
    """Intake, wired: its core and its subscribers bound to the stores the lifespan opens."""
    kek = EnvKek.parse(settings.pii_kek_keys.get_secret_value(), settings.pii_kek_primary)
    broker = make_broker(
        settings.kafka_bootstrap_servers, client_id="intake", security=settings.kafka_security
    )
    core = ServiceCore(Service.INTAKE, settings, settings.database_url, MIGRATIONS, broker)
    intake = Intake(core, settings, kek, now=clock)
    # Lambdas: the stores exist only once the lifespan has made the pool.
    wiring = Wiring(
        accept=intake.accept,
        rejections=lambda: intake.store,
        timeline=lambda: intake.store,
        agency_known=lambda agency: intake.store.agency_known(agency),  # noqa: PLW0108
        header_agencies=settings.kafka_agency_set,
        now=clock,
    )
    # Dead letters and their alerts go through intake's outbox (the relay publishes them).
    _wire(broker, wiring, OutboxOps(Service.INTAKE, lambda: core.db, OUTBOX))
    return intake
