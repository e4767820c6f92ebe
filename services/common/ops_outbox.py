"""Where a service's dead letters and alerts go: onto its own outbox, for its relay to publish.

Rules kept here:
- `OutboxOps` queues a dead letter or an alert as a CloudEvents row of the service's own outbox
  table (`outbox_tx.OutboxTx.emit`: `outbox_events.cloudevent_message`, `outbox.enqueue`) in a
  short transaction of its own, and the service's outbox relay publishes it: a message queued
  while Kafka is away is published once Kafka is back, and nothing is lost between a consumer
  and the broker;
- queuing raises when PostgreSQL cannot take the row (`db.UNAVAILABLE`); the dead-letter edge
  lets that propagate, so the poison message is not acknowledged and is redelivered later (and
  dead-lettered then, under the same id);
- the event id is the caller's and is derived from what the message reports (`ops_ids`), so a
  message queued twice is one event to every consumer;
- `BrokerOps` publishes straight to Kafka instead (`kafka_publish.publish_event`), for a broker
  with no database behind it: the wiring tests' in-memory broker, a tool. Every service queues
  through its outbox (wired in its `bootstrap.py` and `startup.service_lifespan`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime

import asyncpg
from faststream.kafka import KafkaBroker
from pydantic import BaseModel

from services.common.kafka_publish import publish_event
from services.common.outbox import OutboxTable
from services.common.outbox_tx import Emitter, OutboxTx
from shared import OpsAlert, Service
from shared.cloudevents import TYPE_OPS_ALERT
from shared.topics import OPS_ALERTS

# Where a dead letter or an alert goes (`key` is also its CloudEvents subject): an `Emitter`
# that commits (or publishes) each event on its own, rather than inside a caller's transaction.
OpsSink = Emitter


@dataclass(frozen=True)
class OutboxOps:
    """Queues on `table` of the service's database (`pool`: given once the lifespan opened it)."""

    service: Service
    pool: Callable[[], asyncpg.Pool]
    table: OutboxTable

    async def emit(
        self,
        event: BaseModel,
        *,
        topic: str,
        key: str | None,
        ce_type: str,
        event_id: str,
        at: datetime,
    ) -> None:
        async with self.pool().acquire() as conn, conn.transaction():
            await OutboxTx(conn, self.table, self.service).emit(
                event, topic=topic, key=key, ce_type=ce_type, event_id=event_id, at=at
            )


@dataclass(frozen=True)
class BrokerOps:
    """Publishes on the broker at once (no database: see the module's rules)."""

    service: Service
    broker: Callable[[], KafkaBroker]

    async def emit(
        self,
        event: BaseModel,
        *,
        topic: str,
        key: str | None,
        ce_type: str,
        event_id: str,
        at: datetime,
    ) -> None:
        await publish_event(
            self.broker(),
            event,
            topic=topic,
            key=key,
            ce_type=ce_type,
            service=self.service,
            event_id=event_id,
            at=at,
        )


def alert_raiser(sink: OpsSink) -> Callable[[OpsAlert], Awaitable[None]]:
    """`raise_alert` for the dead-letter edge and the monitor: an alert to `ops.alerts.v1`
    through `sink`, under its own (derived) id."""

    async def raise_alert(alert: OpsAlert) -> None:
        await sink.emit(
            alert,
            topic=OPS_ALERTS,
            key=None,
            ce_type=TYPE_OPS_ALERT,
            event_id=str(alert.alert_id),
            at=alert.at,
        )

    return raise_alert
