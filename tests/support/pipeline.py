"""The whole pipeline as real processes: demo receiver, intake, router and provider gateway.

Each runs as `python -m services.<name>` on a free port, against the real Kafka and PostgreSQL
started by `scripts/infra.sh`, with webhooks pointed at this pipeline's own demo receiver, and
with its spans exported to its log (`OTEL_TRACES_EXPORTER=console`), so that tests can follow a
trace and the privacy test searches the spans as well as the log lines.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from services.ops.domain import CONSUMER_GROUPS
from tests.support.cli import cli_output
from tests.support.infra import service_env
from tests.support.kafka_groups import skip_to_end
from tests.support.processes import ServiceProcess, free_port
from tests.support.wait import eventually


@dataclass
class Pipeline:
    receiver: ServiceProcess
    intake: ServiceProcess
    router: ServiceProcess
    gateway: ServiceProcess
    api_key: str
    record: Path

    def spans(self, process: ServiceProcess) -> list[dict[str, Any]]:
        """The spans `process` has exported to its log so far (one JSON object per line)."""
        found = []
        for line in process.log_path.read_text(errors="replace").splitlines():
            if line.startswith('{"name"'):
                with contextlib.suppress(ValueError):
                    found.append(json.loads(line))
        return found

    def deliveries(self) -> list[dict[str, Any]]:
        """Every webhook the demo receiver has verified so far."""
        got: list[dict[str, Any]] = httpx.get(f"{self.receiver.url}/received", timeout=5).json()[
            "deliveries"
        ]
        return got

    @property
    def all(self) -> list[ServiceProcess]:
        return [self.receiver, self.intake, self.router, self.gateway]


def build_pipeline(stack: dict[str, str], workdir: Path, **overrides: str) -> Pipeline:
    """The four processes (not started); `overrides` go last into their environment."""
    ports = {name: free_port() for name in ("receiver", "intake", "router", "gateway")}
    hooks = {
        f"GATEWAY_{p.upper()}_WEBHOOK_URL": f"http://127.0.0.1:{ports['receiver']}/webhooks/{p}"
        for p in ("nwa", "juno", "equation")
    }
    env = service_env(
        stack,
        INTAKE_HTTP_PORT=str(ports["intake"]),
        ROUTER_HTTP_PORT=str(ports["router"]),
        GATEWAY_HTTP_PORT=str(ports["gateway"]),
        OTEL_TRACES_EXPORTER="console",
        INTAKE_MONITOR_INTERVAL_SECONDS="1",
        ROUTER_MONITOR_INTERVAL_SECONDS="1",
        GATEWAY_MONITOR_INTERVAL_SECONDS="1",
        **hooks,
    )
    env.update(overrides)
    record = workdir / "received.jsonl"

    def proc(name: str, args: list[str]) -> ServiceProcess:
        return ServiceProcess(name, args, env, ports[name], workdir)

    return Pipeline(
        receiver=proc(
            "receiver",
            ["services.demo_receiver", "--port", str(ports["receiver"]), "--record", str(record)],
        ),
        intake=proc("intake", ["services.intake", "serve"]),
        router=proc("router", ["services.router", "serve"]),
        gateway=proc("gateway", ["services.provider_gateway", "serve"]),
        api_key=stack["DEMO_AGENCY_API_KEY"],
        record=record,
    )


def delivered(pipeline: Pipeline, referral_ids: set[str], timeout: float = 90) -> dict[str, Any]:
    """The webhook of each referral (by referral id), once every one has been delivered; fails
    naming those that never were."""
    found: dict[str, Any] = {}

    def all_delivered() -> dict[str, Any] | None:
        nonlocal found
        found = {
            d["referral_id"]: d for d in pipeline.deliveries() if d["referral_id"] in referral_ids
        }
        return found if set(found) == referral_ids else None

    return eventually(
        all_delivered,
        f"{len(referral_ids)} deliveries",
        timeout=timeout,
        last=lambda: f"not delivered: {sorted(referral_ids - set(found))}",
    )


def provision_demo_agency_env(env: dict[str, str], api_key: str) -> None:
    """Register the demo agency and its key (idempotent)."""
    cli_output("services.intake", "agency-add", "demo-agency", "Demo referring agency", env=env)
    # `--token=KEY`, not `--token KEY`: a generated key may start with "-".
    cli_output(
        "services.intake",
        "key-create",
        "demo-agency",
        "--label",
        "tests",
        f"--token={api_key}",
        env=env,
    )


def provision_demo_agency(pipeline: Pipeline) -> None:
    provision_demo_agency_env(pipeline.intake.env, pipeline.api_key)


def start_at_topic_ends(pipeline: Pipeline) -> dict[str, int]:
    """Commit the services' consumer groups at the current end of their topics (they are idle:
    no pipeline runs), so this pipeline's work is its tests' own referrals, not a backlog that
    earlier tests left on the topics (run in a thread: a caller may be inside an event loop)."""
    bootstrap = pipeline.intake.env["KAFKA_BOOTSTRAP_SERVERS"]
    with ThreadPoolExecutor(1) as thread:
        return thread.submit(asyncio.run, skip_to_end(bootstrap, CONSUMER_GROUPS)).result()


@contextmanager
def running(pipeline: Pipeline) -> Iterator[Pipeline]:
    start_at_topic_ends(pipeline)
    provision_demo_agency(pipeline)
    try:
        pipeline.receiver.start().wait_ready("/healthz", timeout=30)
        for process in (pipeline.intake, pipeline.router, pipeline.gateway):
            process.start()
        for process in (pipeline.intake, pipeline.router, pipeline.gateway):
            process.wait_ready("/readyz", timeout=90)
        yield pipeline
    finally:
        for process in reversed(pipeline.all):
            process.stop()


class SharedPipeline:
    """One pipeline for the modules that can share it; each test brings its own referrals.

    The services' consumer groups are fixed, so two pipelines must never run at once: a module
    that starts its own services calls `stop` first; the next `get` starts a fresh pipeline.
    """

    def __init__(self, stack: dict[str, str], workdir: Path, **overrides: str) -> None:
        self._stack, self._workdir, self._overrides = stack, workdir, overrides
        self._exit: ExitStack | None = None
        self._pipeline: Pipeline | None = None
        self.starts = 0

    def get(self) -> Pipeline:
        """The running pipeline (started now if it is not running)."""
        if self._pipeline is None:
            exits = ExitStack()
            self._workdir.mkdir(parents=True, exist_ok=True)
            built = build_pipeline(self._stack, self._workdir, **self._overrides)
            self._pipeline = exits.enter_context(running(built))
            self._exit = exits
            self.starts += 1
        return self._pipeline

    def stop(self) -> None:
        if self._exit is not None:
            exits, self._exit, self._pipeline = self._exit, None, None
            exits.close()


@contextmanager
def swapped_gateway(pipeline: Pipeline, **overrides: str) -> Iterator[Pipeline]:
    """`pipeline` with its gateway restarted under `overrides` (same port, same consumer
    group); the original gateway is started again afterwards, so the next module finds the
    pipeline as it was."""
    original = pipeline.gateway
    env = {**original.env, **overrides}  # a copy: the four processes share one env dict
    swapped = ServiceProcess(
        "gateway-swapped", original.args, env, original.port, original.log_path.parent
    )
    original.stop()
    try:
        swapped.start().wait_ready("/readyz", timeout=90)
        yield dataclasses.replace(pipeline, gateway=swapped)
    finally:
        swapped.stop()
        original.start().wait_ready("/readyz", timeout=90)
