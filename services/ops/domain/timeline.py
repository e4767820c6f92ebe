"""A referral's timeline across the services: steps from the tables and the ops topics, merged.

Rules kept here:
- a step is a time, the source it came from (`intake`, `router`, `gateway`, or an ops topic),
  what happened, and `name=value` details that are ids, states, codes, counts or times only;
- steps are merged in time order; equal times keep the pipeline's order of sources (intake,
  router, gateway, then the topics), so a referral reads received -> decided -> delivered;
- an ops message belongs to a referral when its key or its `referral_id` is that referral's id.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from uuid import UUID

from services.ops.domain.lines import OpsRecord, parse_record, when
from services.ops.domain.table import render_table
from shared import DeadLetter, OpsAlert, OpsEvent

SOURCE_ORDER = ("intake", "router", "gateway", "ops.events", "ops.alerts", "ops.deadletter")


@dataclass(frozen=True)
class Step:
    """One thing that happened to a referral, as one source recorded it."""

    at: datetime
    source: str
    what: str
    details: Mapping[str, object] = field(default_factory=dict)

    def detail_text(self) -> str:
        return " ".join(
            f"{k}={v.value if hasattr(v, 'value') else v}"
            for k, v in self.details.items()
            if v is not None and v != ""
        )


def _order(step: Step) -> tuple[datetime, int, str]:
    rank = SOURCE_ORDER.index(step.source) if step.source in SOURCE_ORDER else len(SOURCE_ORDER)
    return step.at, rank, step.what


def merge_steps(*sources: Iterable[Step]) -> list[Step]:
    """Every step of every source, oldest first."""
    return sorted((s for source in sources for s in source), key=_order)


def _belongs(record: OpsRecord, model: object, referral_id: UUID) -> bool:
    if record.key == str(referral_id):
        return True
    return getattr(model, "referral_id", None) == referral_id


def ops_steps(records: Iterable[OpsRecord], referral_id: UUID) -> list[Step]:
    """The steps the ops topics hold about one referral (invalid messages are left out)."""
    steps: list[Step] = []
    for record in records:
        model = parse_record(record)
        if model is None or not _belongs(record, model, referral_id):
            continue
        if isinstance(model, OpsEvent):
            steps.append(
                Step(
                    model.at,
                    "ops.events",
                    model.state.value,
                    {
                        "service": model.service,
                        "provider": model.provider,
                        "pathway": model.pathway,
                        "priority": model.priority,
                        "attempt": model.attempt,
                        "status": model.status_code,
                        "latency_ms": None
                        if model.latency_ms is None
                        else f"{model.latency_ms:.1f}",
                        "reason": model.reason_code,
                    },
                )
            )
        elif isinstance(model, OpsAlert):
            steps.append(
                Step(
                    model.at,
                    "ops.alerts",
                    f"alert:{model.kind.value}",
                    {
                        "service": model.service,
                        "severity": model.severity,
                        "provider": model.provider,
                        "reason": model.reason_code,
                    },
                )
            )
        elif isinstance(model, DeadLetter):
            steps.append(
                Step(
                    model.at,
                    "ops.deadletter",
                    "dead_letter",
                    {
                        "service": model.service,
                        "source": model.source_topic,
                        "reason": model.reason_code,
                    },
                )
            )
    return steps


def render_timeline(referral_id: UUID, steps: Iterable[Step]) -> str:
    """The timeline as a table under a one-line heading."""
    rows = [(when(s.at), s.source, s.what, s.detail_text()) for s in steps]
    heading = f"referral {referral_id}: {len(rows)} steps"
    return heading + "\n" + render_table(("at", "source", "what", "details"), rows)
