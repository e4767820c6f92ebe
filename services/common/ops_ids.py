"""The ids of dead letters and alerts: derived from what they report, so a retry is one event.

Rules kept here (pure: no clock, no randomness except where stated, no I/O):
- a dead letter's id is a uuid5 of (service, source topic, partition, offset, reason code): a
  consumed Kafka record always has a partition and an offset, so the same poison record
  dead-lettered again (redelivered after a crash before its offset was committed, or after its
  group was rewound) gets the same `dead_letter_id`, and the same `ce_id`; a record with no
  partition or offset (none that a Kafka consumer hands over) has no identity to derive from and
  gets a random uuid4;
- a `dead_lettered` alert's id is a uuid5 of (service, topic, the start of its window, and which
  of the window's two alerts it is: `first` or `flush`);
- a `consumer_lag` alert's id is a uuid5 of (service, group, topic, the moment the rise was first
  seen, and which announcement of that rise it is: 0 first, 1 the first repeat, ...);
- every name is the `urn:nottssas:` URL of what it identifies (NAMESPACE_URL), like the other
  derived ids of the services (`urn:nottssas:decided:<referral_id>`, ...).
"""

from __future__ import annotations

from datetime import datetime
from uuid import NAMESPACE_URL, UUID, uuid4, uuid5

from shared import Service


def dead_letter_id(
    service: Service, topic: str, partition: int | None, offset: int | None, reason_code: str
) -> UUID:
    """The id of the dead letter of the record at (`topic`, `partition`, `offset`)."""
    if partition is None or offset is None:
        return uuid4()  # nothing identifies the record: see the module's rules
    name = f"urn:nottssas:dead-letter:{service.value}:{topic}:{partition}:{offset}:{reason_code}"
    return uuid5(NAMESPACE_URL, name)


def dead_letter_alert_id(service: Service, topic: str, window_start: datetime, part: str) -> UUID:
    """The id of the `part` (`first` or `flush`) alert of `topic`'s window from `window_start`."""
    name = f"urn:nottssas:alert:dead-lettered:{service.value}:{topic}:{window_start.isoformat()}"
    return uuid5(NAMESPACE_URL, f"{name}:{part}")


def lag_alert_id(
    service: Service, group: str, topic: str, risen_at: datetime, announcement: int
) -> UUID:
    """The id of the `announcement`th alert of the rise of `group`'s lag on `topic`."""
    name = f"urn:nottssas:alert:consumer-lag:{service.value}:{group}:{topic}:{risen_at.isoformat()}"
    return uuid5(NAMESPACE_URL, f"{name}:{announcement}")
