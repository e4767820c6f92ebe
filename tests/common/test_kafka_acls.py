"""The services' ACLs are exactly what their code does: every topic a service subscribes to or
publishes on (from the AsyncAPI document, built from the apps themselves) is granted to its
principal, no topic grant goes unused, and no service may join another's consumer groups."""

from __future__ import annotations

from typing import Any

import pytest

from services.common.kafka_acls import SERVICE_GRANTS, Operation, allowed
from services.ops.asyncapi import build
from services.ops.domain.lag import CONSUMER_GROUPS

PRINCIPAL = {"intake": "intake", "router": "router", "provider_gateway": "gateway"}


@pytest.fixture(scope="module")
def operations() -> list[tuple[str, str, Operation]]:
    """(principal, topic, READ or WRITE) of every operation of the three apps."""
    doc: dict[str, Any] = build()
    found: list[tuple[str, str, Operation]] = []
    for key, op in doc["operations"].items():
        channel = doc["channels"][op["channel"]["$ref"].rsplit("/", 1)[1]]
        operation: Operation = "READ" if op["action"] == "receive" else "WRITE"
        found.append((PRINCIPAL[key.split("/", 1)[0]], channel["address"], operation))
    return found


def test_each_service_may_do_all_its_code_does(
    operations: list[tuple[str, str, Operation]],
) -> None:
    refused = [op for op in operations if not allowed(op[0], "topic", op[1], op[2])]
    assert refused == []


def test_each_service_may_read_back_what_it_publishes(
    operations: list[tuple[str, str, Operation]],
) -> None:
    """The outbox relay's recovery at start reads the topics its service writes."""
    unreadable = [
        op for op in operations if op[2] == "WRITE" and not allowed(op[0], "topic", op[1], "READ")
    ]
    assert unreadable == []


def test_no_topic_grant_of_a_service_goes_unused(
    operations: list[tuple[str, str, Operation]],
) -> None:
    for principal in PRINCIPAL.values():
        for grant in SERVICE_GRANTS[principal]:
            if grant.resource != "topic":
                continue
            used = any(
                p == principal and grant.covers("topic", topic, op) for p, topic, op in operations
            )
            assert used, f"{principal}: {grant} is granted but its code never uses it"


@pytest.mark.parametrize(
    ("principal", "topic", "operation"),
    [
        ("router", "referrals.received.v1", "WRITE"),  # only intake accepts referrals
        ("router", "referrals.submitted.v1", "READ"),
        ("intake", "assignments.nwa.v1", "READ"),  # nobody but the gateway sees assignments
        ("intake", "referrals.decided.v1", "WRITE"),
        ("gateway", "referrals.received.v1", "WRITE"),
        ("gateway", "referrals.submitted.notts-police.v1", "READ"),
        ("ops", "referrals.received.v1", "READ"),  # personal data: ops reads ids and codes only
        ("ops", "ops.events.v1", "WRITE"),
    ],
)
def test_what_a_service_must_not_do_is_not_granted(
    principal: str, topic: str, operation: Operation
) -> None:
    assert not allowed(principal, "topic", topic, operation)


def test_per_agency_and_per_provider_topics_are_covered_by_prefix() -> None:
    assert allowed("intake", "topic", "referrals.submitted.notts-police.v1", "READ")
    assert allowed("gateway", "topic", "assignments.responses.juno.v1", "READ")
    assert allowed("gateway", "topic", "assignments.new-provider.v1", "WRITE")


def test_each_service_joins_its_own_groups_only() -> None:
    owner = {"intake-": "intake", "router": "router", "provider-gateway-": "gateway"}
    for group in CONSUMER_GROUPS:
        mine = next(p for prefix, p in owner.items() if group.startswith(prefix))
        for principal in PRINCIPAL.values():
            assert allowed(principal, "group", group, "READ") == (principal == mine), group
        assert allowed("ops", "group", group, "DESCRIBE")  # ops measures every group's lag
        assert not allowed("ops", "group", group, "READ")
