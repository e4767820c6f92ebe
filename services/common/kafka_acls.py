"""Who may do what on the Kafka broker: one principal per service, least privilege, as data.

The broker denies everything that no ACL allows (`allow.everyone.if.no.acl.found=false`);
these grants are all the services get. `scripts/kafka_security.py` applies them with
`services.common.kafka_admin`; the README's table of principals is this module, in prose.

Rules kept here:
- a service reads only the topics it subscribes to and writes only the topics it publishes
  to; it joins only its own consumer groups (its names, or its `<name>-` prefix);
- topics that gain per-agency or per-provider variants are granted by prefix:
  intake READs `referrals.submitted.` (so `referrals.submitted.<agency>.v1` too) and the
  gateway READs `assignments.responses.`; the gateway WRITEs the `assignments.` prefix,
  because a provider added later gets its own `assignments.<provider>.v1`;
- a service may READ back what it publishes (`publishes`): its outbox relay's recovery at start
  reads its topics for the rows a killed predecessor published but never marked sent
  (`outbox_recovery`); it reads with no group, so this grants no group;
- WRITE on a topic lets an idempotent producer write (Kafka 3.0+ implies IDEMPOTENT_WRITE
  from it), so no principal needs a cluster-wide grant; no service uses transactions;
- `tooling` (tests, demo, bench, chaos) may read and write every topic and group and
  create test topics, but is not a super user: it cannot change ACLs or credentials;
- `admin` (a super user, scripts only) and `broker` are not listed: their rights come from
  `super.users`, not ACLs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal

from shared.topics import (
    ASSIGNMENTS_RESPONSES,
    OPS_ALERTS,
    OPS_DEADLETTER,
    OPS_EVENTS,
    REFERRALS_DECIDED,
    REFERRALS_RECEIVED,
    REFERRALS_REJECTED,
    REFERRALS_SUBMITTED,
)

Resource = Literal["topic", "group", "cluster"]
Pattern = Literal["literal", "prefixed"]
Operation = Literal["READ", "WRITE", "DESCRIBE", "CREATE", "DELETE", "ALTER", "ALL"]


@dataclass(frozen=True)
class Grant:
    """ALLOW `operations` on one resource (a name, a prefix of names, or `*` for all)."""

    resource: Resource
    name: str
    operations: tuple[Operation, ...]
    pattern: Pattern = "literal"

    def covers(self, resource: Resource, name: str, operation: Operation) -> bool:
        """Whether this grant allows `operation` on the resource `name` (READ and WRITE imply
        DESCRIBE, as they do on the broker)."""
        if resource != self.resource:
            return False
        if self.name != "*" and not (
            name.startswith(self.name) if self.pattern == "prefixed" else name == self.name
        ):
            return False
        implied = {operation} | ({"READ", "WRITE"} if operation == "DESCRIBE" else set())
        return "ALL" in self.operations or bool(implied & set(self.operations))


def allowed(principal: str, resource: Resource, name: str, operation: Operation) -> bool:
    """Whether the principal's grants allow the operation (deny when none does)."""
    return any(g.covers(resource, name, operation) for g in SERVICE_GRANTS.get(principal, ()))


def reads(topic: str, *, prefixed: bool = False) -> Grant:
    return Grant("topic", topic, ("READ",), "prefixed" if prefixed else "literal")


def writes(topic: str, *, prefixed: bool = False) -> Grant:
    return Grant("topic", topic, ("WRITE",), "prefixed" if prefixed else "literal")


def publishes(topic: str, *, prefixed: bool = False) -> Grant:
    """WRITE, and READ back (the outbox relay's recovery, see the module's rules)."""
    return Grant("topic", topic, ("WRITE", "READ"), "prefixed" if prefixed else "literal")


def group(name: str, *, prefixed: bool = False) -> Grant:
    """Join, commit and describe a consumer group (READ implies DESCRIBE)."""
    return Grant("group", name, ("READ",), "prefixed" if prefixed else "literal")


SUBMISSIONS_PREFIX: Final = "referrals.submitted."
RESPONSES_PREFIX: Final = "assignments.responses."
ASSIGNMENTS_PREFIX: Final = "assignments."

# Every service raises alerts and dead-letters poison messages.
_OPS_WRITES = (publishes(OPS_ALERTS), publishes(OPS_DEADLETTER))

SERVICE_GRANTS: Final[dict[str, tuple[Grant, ...]]] = {
    "intake": (
        reads(SUBMISSIONS_PREFIX, prefixed=True),
        reads(REFERRALS_DECIDED),
        reads(OPS_EVENTS),
        group("intake-", prefixed=True),
        publishes(REFERRALS_RECEIVED),
        publishes(REFERRALS_REJECTED),
        publishes(OPS_EVENTS),
        *_OPS_WRITES,
    ),
    "router": (
        reads(REFERRALS_RECEIVED),
        group("router"),
        publishes(REFERRALS_DECIDED),
        publishes(OPS_EVENTS),
        *_OPS_WRITES,
    ),
    "gateway": (
        reads(REFERRALS_RECEIVED),
        reads(REFERRALS_DECIDED),
        reads(OPS_EVENTS),  # intake's `erased` events: the gateway forgets its copies too
        reads(RESPONSES_PREFIX, prefixed=True),
        group("provider-gateway-", prefixed=True),
        publishes(ASSIGNMENTS_PREFIX, prefixed=True),
        publishes(OPS_EVENTS),
        *_OPS_WRITES,
    ),
    # The operators' tool: reads the ops topics (ids and codes only, no personal data), and
    # measures every group's lag, which needs DESCRIBE on groups and on the topics they read.
    "ops": (
        reads(OPS_EVENTS),
        reads(OPS_ALERTS),
        reads(OPS_DEADLETTER),
        Grant("topic", "referrals.", ("DESCRIBE",), "prefixed"),
        Grant("topic", ASSIGNMENTS_PREFIX, ("DESCRIBE",), "prefixed"),
        Grant("group", "intake-", ("DESCRIBE",), "prefixed"),
        Grant("group", "router", ("DESCRIBE",)),
        Grant("group", "provider-gateway-", ("DESCRIBE",), "prefixed"),
    ),
    # The bridge for v1 clients: the only principal allowed to write the two shared topics,
    # whose writer's identity is a header or a body field rather than the topic (a gateway or
    # proxy in front of agencies and providers that cannot have their own principal yet).
    "bridge": (
        writes(REFERRALS_SUBMITTED),
        writes(ASSIGNMENTS_RESPONSES),
    ),
    # Tests, the demo, the benchmarks and the chaos runs: they act as agencies, providers and
    # observers at once, and create (and delete) their own scratch topics.
    "tooling": (
        Grant("topic", "*", ("ALL",)),
        Grant("group", "*", ("ALL",)),
    ),
}

SERVICE_PRINCIPALS: Final = tuple(SERVICE_GRANTS)


def password_variable(principal: str) -> str:
    """The variable of .dev/secrets.env holding a principal's password: KAFKA_<NAME>_PASSWORD."""
    return f"KAFKA_{principal.upper().replace('-', '_')}_PASSWORD"
