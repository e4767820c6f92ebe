"""The rows of the fault matrix and how one row runs against the real, running pipeline.

Rules kept here:
- One pipeline (receiver, intake, router, gateway as real processes, started by
  tests/support/pipeline.py) serves every row; each row sends its own referrals and is
  accounted for by their ids alone, so rows cannot hide each other's losses.
- A row: load starts; halfway through, the fault is injected and lifted; the load finishes
  (retrying what failed); then the row waits until every accepted referral has arrived, or
  the drain timeout passes, plus a short settle so that late duplicates are seen too. A row
  with no fault (two instances) counts its drain time from the end of its load.
- Everything is bounded in time; a row that cannot run (a service died, a restart failed)
  is reported as failed with its reason, and the next row starts from a healthy pipeline.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime

from tests.chaos import faults, load
from tests.chaos.accounting import Outcome, account, read_record
from tests.support.pipeline import Pipeline
from tests.support.processes import ServiceProcess, free_port


@dataclass(frozen=True)
class Mode:
    referrals: int  # per row
    spread: float  # seconds over which a row's referrals are sent
    down_for: float  # how long a crashed process or server stays down
    outage: float  # the provider outage, seconds
    drain_timeout: float
    rows: tuple[str, ...]


ALL_ROWS = (
    "kill -9 intake",
    "kill -9 router",
    "kill -9 gateway",
    "kill -9 Kafka",
    "immediate stop PostgreSQL",
    "provider outage",
    "two instances of each",
)
MODES = {
    # A few minutes for CI. The gateway's circuit breaker brings the deliveries waiting on a
    # provider forward when it answers again, so a 20 s outage drains in well under a minute.
    "short": Mode(
        referrals=30,
        spread=6,
        down_for=3,
        outage=20,
        drain_timeout=180,
        rows=("kill -9 intake", "kill -9 gateway", "immediate stop PostgreSQL", "provider outage"),
    ),
    "full": Mode(referrals=150, spread=20, down_for=5, outage=60, drain_timeout=900, rows=ALL_ROWS),
}
MODES["long"] = replace(MODES["full"], rows=(*ALL_ROWS, "provider outage 30 min"))

# The promise after a provider outage: every waiting delivery arrives within this many seconds
# of the provider answering again (issue "edges", item 9).
RECOVERY_BOUND_SECONDS = 60.0


def recovery_too_slow(result: RowResult) -> bool:
    """A provider-outage row whose slowest waiting delivery came later than the bound."""
    o = result.outcome
    return (
        result.name.startswith("provider outage")
        and o is not None
        and o.longest_delay_seconds is not None
        and o.longest_delay_seconds > RECOVERY_BOUND_SECONDS
    )


@dataclass
class Stack:
    pipeline: Pipeline
    extras: list[ServiceProcess]

    @property
    def services(self) -> list[ServiceProcess]:
        p = self.pipeline
        return [p.intake, p.router, p.gateway, *self.extras]


@dataclass(frozen=True)
class RowResult:
    name: str
    outcome: Outcome | None
    seconds: float
    retries: int = 0
    error: str | None = None
    refused_by: tuple[tuple[str, int], ...] = ()  # intake's final answer (or "gave up") -> count


def _second(process: ServiceProcess) -> ServiceProcess:
    port = free_port()
    variable = {"intake": "INTAKE", "router": "ROUTER", "gateway": "GATEWAY"}[process.name]
    env = process.env | {f"{variable}_HTTP_PORT": str(port)}
    return ServiceProcess(f"{process.name}-2", process.args, env, port, process.log_path.parent)


def injection(name: str, mode: Mode, stack: Stack) -> Callable[[], datetime] | None:
    p = stack.pipeline
    crash = {"kill -9 intake": p.intake, "kill -9 router": p.router, "kill -9 gateway": p.gateway}
    if name in crash:
        return lambda: faults.crash_and_restart([crash[name]], mode.down_for)
    if name == "kill -9 Kafka":
        return lambda: faults.kill_kafka(mode.down_for)
    if name == "immediate stop PostgreSQL":
        return lambda: faults.stop_postgres_immediately(mode.down_for)
    if name == "provider outage":
        return lambda: faults.provider_outage(p.receiver, mode.outage)
    if name == "provider outage 30 min":
        return lambda: faults.provider_outage(p.receiver, 1800)
    return None  # two instances: load and no fault


async def run_row(name: str, mode: Mode, stack: Stack) -> RowResult:
    started = time.monotonic()
    try:
        await asyncio.to_thread(_heal, stack)
        if name == "two instances of each":
            stack.extras = [
                _second(s)
                for s in (stack.pipeline.intake, stack.pipeline.router, stack.pipeline.gateway)
            ]
            for extra in stack.extras:
                extra.start()
            await asyncio.to_thread(_heal, stack)
        outcome, sent = await _load_fault_drain(name, mode, stack)
        died = [
            s.name
            for s in [stack.pipeline.receiver, *stack.services]
            if s.proc is None or s.proc.poll() is not None
        ]
    except Exception as error:  # a row that cannot run is a failed row, not a crashed matrix
        return RowResult(
            name, None, time.monotonic() - started, error=f"{type(error).__name__}: {error}"
        )
    finally:
        for extra in stack.extras:
            extra.stop()
        stack.extras = []
    note = f"exited on their own: {died}" if died else None
    refused = tuple(sorted(sent.refused.items()))
    return RowResult(name, outcome, time.monotonic() - started, sent.retries, note, refused)


async def _load_fault_drain(name: str, mode: Mode, stack: Stack) -> tuple[Outcome, load.Sent]:
    p = stack.pipeline
    intakes = [s.url for s in stack.services if s.name.startswith("intake")]
    sending = asyncio.create_task(
        load.send(
            intakes,
            p.api_key,
            load.deliverable_submissions(mode.referrals),
            spread=mode.spread,
            give_up_after=max(120.0, 2 * mode.down_for + 60),
        )
    )
    inject = injection(name, mode, stack)
    if inject is not None:
        await asyncio.sleep(mode.spread / 2)
        fault_end = await asyncio.to_thread(inject)
        sent = await sending
    else:
        sent = await sending
        fault_end = faults.now()
    deadline = time.monotonic() + mode.drain_timeout
    while time.monotonic() < deadline:
        outcome = account(
            sent.accepted, sum(sent.refused.values()), read_record(p.record), fault_end
        )
        if not outcome.lost:
            break
        await asyncio.sleep(1)
    await asyncio.sleep(3)  # a duplicate sent just after the last first arrival is still seen
    outcome = account(sent.accepted, sum(sent.refused.values()), read_record(p.record), fault_end)
    return outcome, sent


def _heal(stack: Stack) -> None:
    """Every process answering before a row starts; one that died on its own is restarted."""
    receiver = stack.pipeline.receiver
    for process in [receiver, *stack.services]:
        if process.proc is None or process.proc.poll() is not None:
            process.start()
    receiver.wait_ready("/healthz", timeout=60)
    for process in stack.services:
        process.wait_ready("/readyz", timeout=120)
