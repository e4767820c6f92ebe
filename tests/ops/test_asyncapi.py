"""The AsyncAPI document: current, complete, and built from the apps' own brokers.

Rules checked here:
- `docs/asyncapi.json` equals a fresh build (run `python -m services.ops asyncapi` after
  changing a subscriber, a topic or a contract model);
- every topic of the contract is a channel whose messages carry a payload schema that exists,
  with the CloudEvents headers; none is left with FastStream's empty payload;
- the ops tool's list of consumer groups is the services' own.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from services.ops.__main__ import DEFAULT_DOC
from services.ops.asyncapi import CONTRACT, brokers, build
from services.ops.domain import CONSUMER_GROUPS
from shared.topics import ALL_TOPICS


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    return build()


def _resolve(document: dict[str, Any], ref: str) -> Any:
    node: Any = document
    for part in ref.removeprefix("#/").split("/"):
        node = node[part]
    return node


def test_the_checked_in_document_is_a_fresh_build(document: dict[str, Any]) -> None:
    checked_in = json.loads(DEFAULT_DOC.read_text())
    assert checked_in == document, (
        "docs/asyncapi.json is stale: run python -m services.ops asyncapi"
    )


def test_the_document_is_asyncapi_3(document: dict[str, Any]) -> None:
    assert document["asyncapi"] == "3.0.0"
    assert document["info"]["title"]


def test_every_contract_topic_is_a_channel_with_a_payload_schema(document: dict[str, Any]) -> None:
    assert set(CONTRACT) == set(ALL_TOPICS)
    for topic in ALL_TOPICS:
        channels = [c for c in document["channels"].values() if c["address"] == topic]
        assert channels, f"{topic} has no channel"
        for channel in channels:
            assert channel["messages"], f"{topic} has a channel without messages"
            for ref in channel["messages"].values():
                message = _resolve(document, ref["$ref"])
                payload = _resolve(document, message["payload"]["$ref"])
                assert payload["title"] == CONTRACT[topic].model, topic
                assert payload.get("properties"), f"{topic}: payload schema has no properties"
                assert _resolve(document, message["headers"]["$ref"])["required"]


def test_no_schema_reference_dangles(document: dict[str, Any]) -> None:
    refs: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            refs.extend(v for k, v in node.items() if k == "$ref" and isinstance(v, str))
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(document)
    for ref in refs:
        _resolve(document, ref)  # raises KeyError if it points nowhere
    assert "EmptyPayload" not in document["components"]["schemas"]


def test_each_publishing_service_has_a_send_operation(document: dict[str, Any]) -> None:
    sends = {
        (op_id.split("/")[0], _resolve(document, op["channel"]["$ref"])["address"])
        for op_id, op in document["operations"].items()
        if op["action"] == "send"
    }
    assert ("router", "referrals.decided.v1") in sends
    assert ("intake", "referrals.rejected.v1") in sends
    assert ("provider_gateway", "assignments.juno.v1") in sends
    assert ("provider_gateway", "ops.alerts.v1") in sends


def test_the_consumer_groups_for_lag_are_the_services_own() -> None:
    declared: dict[str, set[str]] = {}
    for broker in brokers():
        for subscriber in broker.subscribers:
            declared.setdefault(subscriber.group_id, set()).update(
                t.name if hasattr(t, "name") else str(t) for t in subscriber.topic_names
            )
    assert {g: set(t) for g, t in CONSUMER_GROUPS.items()} == declared
