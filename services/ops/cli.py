"""The ops commands: each reads its sources, hands them to `domain/`, and prints plain text.

Rules kept here:
- output goes to `out`, notes about sources left out or unreachable go to `err`;
- a command that could read none of its sources fails (exit 1) rather than print an empty
  answer that looks like "nothing happened".
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from datetime import datetime
from pathlib import Path
from typing import TextIO, TypeVar
from uuid import UUID

from services.common.lag import group_lag
from services.ops.adapters import kafka, tables
from services.ops.config import OpsSettings
from services.ops.domain import (
    CONSUMER_GROUPS,
    DecisionFacts,
    StateFact,
    Step,
    format_record,
    merge_steps,
    ops_steps,
    parse_record,
    render_lag,
    render_stats,
    render_timeline,
)
from services.ops.domain.lines import OPS_TOPICS
from shared import OpsEvent
from shared.topics import OPS_EVENTS

T = TypeVar("T")


async def tail(
    settings: OpsSettings,
    topic: str,
    *,
    from_beginning: bool,
    limit: int | None,
    follow: bool,
    out: TextIO,
) -> int:
    """Print an ops topic one line per message; stops after `limit` lines, or at the end."""
    if limit is not None and limit <= 0:
        return 0
    printed = 0
    async for record in kafka.records(
        settings.kafka_bootstrap_servers,
        [topic],
        from_beginning=from_beginning,
        follow=follow,
        security=settings.kafka_security,
    ):
        print(format_record(record), file=out, flush=True)
        printed += 1
        if limit is not None and printed >= limit:
            break
    return 0


async def _from_db(
    name: str, dsn: str | None, read: Callable[..., Awaitable[T]], *args: object, err: TextIO
) -> T | None:
    if dsn is None:
        print(f"note: {name.upper()}_DATABASE_URL is not set; {name} tables left out", file=err)
        return None
    try:
        async with tables.connected(dsn) as pool:
            return await read(pool, *args)
    except tables.DB_ERRORS as exc:
        print(f"note: {name} database unreachable ({type(exc).__name__}); left out", file=err)
        return None


async def trace(settings: OpsSettings, referral_id: UUID, *, out: TextIO, err: TextIO) -> int:
    """Print the referral's timeline from the three services' tables and the ops topics."""
    dsns = settings.dsns()
    sources: list[list[Step]] = []
    readers = {
        "intake": tables.intake_steps,
        "router": tables.router_steps,
        "gateway": tables.gateway_steps,
    }
    for name, read in readers.items():
        steps = await _from_db(name, dsns[name], read, referral_id, err=err)
        if steps is not None:
            sources.append(steps)
    try:
        records = await kafka.read_all(
            settings.kafka_bootstrap_servers, OPS_TOPICS, security=settings.kafka_security
        )
        sources.append(ops_steps(records, referral_id))
    except Exception as exc:  # noqa: BLE001 - any Kafka failure: say so, show the tables
        print(f"note: ops topics unreadable ({type(exc).__name__}); left out", file=err)
    if not sources:
        print("error: no source could be read", file=err)
        return 1
    print(render_timeline(referral_id, merge_steps(*sources)), file=out)
    return 0


def _in_period(at: datetime, since: datetime | None, until: datetime | None) -> bool:
    return (since is None or at >= since) and (until is None or at < until)


async def stats(
    settings: OpsSettings,
    *,
    since: datetime | None,
    until: datetime | None,
    out: TextIO,
    err: TextIO,
) -> int:
    """Print counts by pathway, provider, priority (router) and by state (intake, router, ops)."""
    dsns = settings.dsns()
    read_any = False
    decisions: list[DecisionFacts] = []
    states: list[StateFact] = []
    received = await _from_db("intake", dsns["intake"], tables.received_in, since, until, err=err)
    if received is not None:
        read_any = True
        states.extend(received)
    decided = await _from_db("router", dsns["router"], tables.decisions_in, since, until, err=err)
    if decided is not None:
        read_any = True
        decisions.extend(decided)
        states.extend(StateFact(d.referral_id, "decided") for d in decided)
    try:
        records = await kafka.read_all(
            settings.kafka_bootstrap_servers, [OPS_EVENTS], security=settings.kafka_security
        )
    except Exception as exc:  # noqa: BLE001 - any Kafka failure: say so, show the tables
        print(f"note: ops.events.v1 unreadable ({type(exc).__name__}); left out", file=err)
    else:
        read_any = True
        for record in records:
            event = parse_record(record)
            if isinstance(event, OpsEvent) and _in_period(event.at, since, until):
                states.append(StateFact(event.referral_id, event.state.value))
    if not read_any:
        print("error: no source could be read", file=err)
        return 1
    print(render_stats(decisions, states, since=since, until=until), file=out)
    return 0


async def lag(settings: OpsSettings, *, out: TextIO) -> int:
    """Print each project consumer group's lag per partition."""
    rows = await group_lag(
        settings.kafka_bootstrap_servers, CONSUMER_GROUPS, security=settings.kafka_security
    )
    print(render_lag(rows), file=out)
    return 0


def asyncapi(path: Path, *, check: bool, out: TextIO, err: TextIO) -> int:
    """Write the AsyncAPI document to `path`, or (`check`) fail if it is not current."""
    from services.ops.asyncapi import build, dumps

    document = build()
    if check:
        current = json.loads(path.read_text()) if path.exists() else None
        if current != document:
            print(f"{path} is out of date: run python -m services.ops asyncapi", file=err)
            return 1
        print(f"{path} is current", file=out)
        return 0
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(dumps(document))
    print(f"wrote {path}", file=out)
    return 0
