"""The gateway's transactional outbox: what a transaction decides to publish, it publishes.

Rules kept here:
- an ops event, alert, dead letter or echoed response is written as an outbox row in the same
  transaction as the state change it reports, so a state change and its event are never
  separated (no commit-then-publish);
- every row is a CloudEvent whose `ce_id` is the event's own id, stable however often the relay
  has to publish it; the row (`services.common.outbox_tx.OutboxTx`) and the relay (claiming,
  publishing in order, marking sent, waking on NOTIFY: `services.common.outbox`) are shared.
"""

from __future__ import annotations

from typing import Final

import asyncpg

from services.common import outbox_tx
from services.common.outbox import OutboxTable
from shared import Service

OUTBOX_CHANNEL: Final = "gateway_outbox"
OUTBOX: Final = OutboxTable(channel=OUTBOX_CHANNEL)


class OutboxTx(outbox_tx.OutboxTx):
    """A gateway transaction that can queue events on the gateway's outbox."""

    def __init__(self, conn: asyncpg.Connection) -> None:
        super().__init__(conn, OUTBOX, Service.PROVIDER_GATEWAY)
