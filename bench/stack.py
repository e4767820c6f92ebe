"""The whole pipeline as real processes for the benchmarks: receiver, intake, router, gateway.

Rules kept here:
- every service runs as its real command on a free loopback port against the real Kafka and
  PostgreSQL, with webhooks pointed at this stack's demo receiver (which verifies signatures and
  records each delivery with its time in `record`);
- `instances` processes of each service (the receiver is one): the router and gateway share
  their consumer groups, the intakes share the database and each drives its own outbox relay;
- `GROUPS` lists every service's (consumer group, topic), so a stage can start past the backlog.
"""

from __future__ import annotations

from pathlib import Path
from types import TracebackType

from bench.harness import Service, free_port, service_env
from services.router.app import GROUP_ID as ROUTER_GROUP
from shared.topics import (
    ASSIGNMENTS_RESPONSES,
    OPS_EVENTS,
    REFERRALS_DECIDED,
    REFERRALS_RECEIVED,
    REFERRALS_SUBMITTED,
)

GROUPS = (
    (ROUTER_GROUP, REFERRALS_RECEIVED),
    ("provider-gateway-received", REFERRALS_RECEIVED),
    ("provider-gateway-decisions", REFERRALS_DECIDED),
    ("provider-gateway-responses", ASSIGNMENTS_RESPONSES),
    ("intake-submissions", REFERRALS_SUBMITTED),
    ("intake-timeline", REFERRALS_DECIDED),
    ("intake-timeline-ops", OPS_EVENTS),
)
PROVIDERS = ("nwa", "juno", "equation")


class Stack:
    """Started on entry (each ready), stopped on exit (SIGTERM, reverse order)."""

    def __init__(self, stack_env: dict[str, str], record: Path, instances: int = 1) -> None:
        receiver_port = free_port()
        hooks = {
            f"GATEWAY_{p.upper()}_WEBHOOK_URL": f"http://127.0.0.1:{receiver_port}/webhooks/{p}"
            for p in PROVIDERS
        }
        self.record = record
        env = service_env(stack_env, **hooks)
        self.receiver = Service(
            "receiver",
            ["services.demo_receiver", "--port", str(receiver_port), "--record", str(record)],
            env,
            receiver_port,
        )
        self.intakes = [self._service(env, "intake", "INTAKE", i) for i in range(instances)]
        self.routers = [self._service(env, "router", "ROUTER", i) for i in range(instances)]
        self.gateways = [
            self._service(env, "provider_gateway", "GATEWAY", i) for i in range(instances)
        ]

    @staticmethod
    def _service(env: dict[str, str], module: str, prefix: str, i: int) -> Service:
        port = free_port()
        name = f"{module.rsplit('_', maxsplit=1)[-1]}-{i + 1}"
        own = env | {f"{prefix}_HTTP_PORT": str(port)}
        return Service(name, [f"services.{module}", "serve"], own, port)

    @property
    def services(self) -> list[Service]:
        return [*self.intakes, *self.routers, *self.gateways]

    def __enter__(self) -> Stack:
        self.receiver.start().wait_ready("/healthz", timeout=30)
        for s in self.services:
            s.start()
        for s in self.services:
            s.wait_ready()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        for s in reversed([self.receiver, *self.services]):
            s.stop()
