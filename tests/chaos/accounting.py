"""What became of each referral intake accepted in one row of the fault matrix (pure).

Rules kept here:
- The truth is the receiver's record file (one JSON line per verified webhook request, with
  its `webhook-id`), compared with what intake answered 201 to, by referral id.
- Delivered: at least one recorded request. Lost: accepted and never recorded. Duplicate: a
  referral or an assignment recorded under two or more distinct webhook-ids (the same id
  twice is a retry the provider dedupes, not a duplicate).
- Drain time: from the end of the fault to the last first arrival. Longest delay after
  recovery: over the deliveries that first arrived after the fault ended, the longest wait
  from max(accepted, fault end) to arrival; for a provider outage that is the wait from the
  receiver answering again.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path


@dataclass(frozen=True)
class Arrival:
    referral_id: str
    assignment_id: str | None
    webhook_id: str
    at: datetime


@dataclass(frozen=True)
class Outcome:
    accepted: int
    refused: int
    delivered: int
    lost: list[str]
    duplicates: list[str]
    drain_seconds: float | None
    longest_delay_seconds: float | None

    @property
    def ok(self) -> bool:
        return not self.lost and not self.duplicates


def read_record(path: Path) -> list[Arrival]:
    """Every request the receiver recorded (a torn last line, from a kill, is skipped)."""
    if not path.exists():
        return []
    arrivals = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            item = json.loads(line)
            body = item["assignment"]
            arrivals.append(
                Arrival(
                    referral_id=str(body["referral_id"]),
                    assignment_id=body.get("assignment_id"),
                    webhook_id=str(item["webhook_id"]),
                    at=datetime.fromisoformat(item["at"]),
                )
            )
        except (ValueError, KeyError, TypeError):
            continue
    return arrivals


def account(
    accepted: dict[str, datetime],
    refused: int,
    arrivals: Iterable[Arrival],
    fault_end: datetime,
) -> Outcome:
    """The outcome for the referrals in `accepted` (referral id -> when intake answered 201)."""
    webhook_ids: dict[str, set[str]] = defaultdict(set)
    by_assignment: dict[str, set[str]] = defaultdict(set)
    first: dict[str, datetime] = {}
    for arrival in arrivals:
        if arrival.referral_id not in accepted:
            continue  # another row's referral
        webhook_ids[arrival.referral_id].add(arrival.webhook_id)
        if arrival.assignment_id is not None:
            by_assignment[arrival.assignment_id].add(arrival.webhook_id)
        seen = first.get(arrival.referral_id)
        first[arrival.referral_id] = arrival.at if seen is None else min(seen, arrival.at)
    duplicates = {rid for rid, ids in webhook_ids.items() if len(ids) > 1}
    duplicates |= {f"assignment {aid}" for aid, ids in by_assignment.items() if len(ids) > 1}
    after = [
        (at - max(accepted[rid], fault_end)).total_seconds()
        for rid, at in first.items()
        if at >= fault_end
    ]
    return Outcome(
        accepted=len(accepted),
        refused=refused,
        delivered=len(first),
        lost=sorted(set(accepted) - set(first)),
        duplicates=sorted(duplicates),
        drain_seconds=(
            max(0.0, (max(first.values()) - fault_end).total_seconds()) if first else None
        ),
        longest_delay_seconds=max(after) if after else None,
    )
