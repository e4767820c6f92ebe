"""Consumer lag: per group and partition, the committed offset against the end of the log.

Rules kept here:
- the project's consumer groups and the topics each reads are listed here, as the services
  declare them (`group_id=` of each subscriber; a test keeps the two in step);
- how lag is counted is `services.common.lag.PartitionLag`'s (shared with the services, which
  watch their own groups).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from types import MappingProxyType
from typing import Final

from services.common.lag import PartitionLag
from services.ops.domain.table import render_table
from shared import topics

__all__ = ["CONSUMER_GROUPS", "PartitionLag", "render_lag"]

CONSUMER_GROUPS: Final[Mapping[str, tuple[str, ...]]] = MappingProxyType(
    {
        "intake-submissions": (topics.REFERRALS_SUBMITTED,),
        # Subscribed by pattern: measured on every per-agency (per-provider) topic that exists.
        "intake-agency-submissions": (topics.SUBMISSIONS_TOPIC_PATTERN,),
        "intake-timeline": (topics.REFERRALS_DECIDED,),
        "intake-timeline-ops": (topics.OPS_EVENTS,),
        "router": (topics.REFERRALS_RECEIVED,),
        "provider-gateway-received": (topics.REFERRALS_RECEIVED,),
        "provider-gateway-decisions": (topics.REFERRALS_DECIDED,),
        "provider-gateway-responses": (topics.ASSIGNMENTS_RESPONSES,),
        "provider-gateway-provider-responses": (topics.RESPONSES_TOPIC_PATTERN,),
        "provider-gateway-erasures": (topics.OPS_EVENTS,),
    }
)


def render_lag(rows: Iterable[PartitionLag]) -> str:
    """A table of every partition, then each group's total."""
    ordered = sorted(rows, key=lambda r: (r.group, r.topic, r.partition))
    table = render_table(
        ("group", "topic", "partition", "committed", "end", "lag"),
        [
            (
                r.group,
                r.topic,
                r.partition,
                r.committed if r.committed is not None and r.committed >= 0 else None,
                r.end,
                r.lag,
            )
            for r in ordered
        ],
    )
    totals: dict[str, int] = {}
    for r in ordered:
        totals[r.group] = totals.get(r.group, 0) + r.lag
    summary = render_table(("group", "total lag"), sorted(totals.items()))
    return table + "\n\n" + summary
