"""The fakes' `emit`: how a fake store transaction records each event its use case queued.

Every service's stores queue events through a transaction's `emit` (an `Emitter`, see
`services/common/outbox_tx.py`). The fakes of the router and the gateway record them the same
way: a fake transaction inherits `RecordsEmits` and says, in `_recorded`, where an `Emitted`
goes (a list of its own, or the outbox rows the real store would write: `Emitted.message`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from pydantic import BaseModel

from services.common.outbox import OutboxMessage
from services.common.outbox_events import cloudevent_message
from shared import Service


@dataclass
class Emitted:
    """One event a use case queued, with everything `emit` was told."""

    topic: str
    key: str | None
    event: BaseModel
    event_id: str
    ce_type: str
    at: datetime

    def message(self, service: Service) -> OutboxMessage:
        """The outbox row the real store would queue (the function it uses)."""
        return cloudevent_message(
            service,
            self.event,
            topic=self.topic,
            key=self.key,
            ce_type=self.ce_type,
            event_id=self.event_id,
            at=self.at,
        )


class RecordsEmits:
    """`emit` of the fakes' transactions (an `Emitter`): each queued event is recorded."""

    def _recorded(self, emitted: Emitted) -> None:
        raise NotImplementedError

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
        self._recorded(Emitted(topic, key, event, event_id, ce_type, at))
