"""The AsyncAPI 3 document of every topic: FastStream's view of the three apps, completed.

Rules kept here:
- the apps' brokers are built as the services build them (each `create_app`; the router's
  `build_broker`), from fixed dummy settings that ignore the environment; nothing connects;
- FastStream documents what the apps subscribe to, with the payload model of each typed
  handler (left as it is, so a test can hold it to the contract); the topics the apps only
  publish, and those whose subscriber takes a raw message, are completed from the contract:
  every topic of `shared.topics.ALL_TOPICS` is a channel whose messages carry the contract
  model's schema (`shared.schemas`) and the CloudEvents headers, and each publishing service
  has a `send` operation on it;
- the document is a pure function of the code, written with sorted keys so that it is the same
  text however FastStream happens to order the subscribers: `docs/asyncapi.json` is checked
  against it.
"""

from __future__ import annotations

import copy
import json
from typing import Any, Final

from services.ops.asyncapi_contract import (
    CLOUDEVENT_HEADERS,
    CONTRACT,
    HEADERS_SCHEMA,
    IDENTITY_TOPICS,
    SERVICES,
    ContractTopic,
)
from shared import topics
from shared.schemas import json_schemas

# The contract's table of topics lives in `asyncapi_contract`; its names stay importable here.
__all__ = [
    "CLOUDEVENT_HEADERS",
    "CONTRACT",
    "HEADERS_SCHEMA",
    "IDENTITY_TOPICS",
    "SERVICES",
    "ContractTopic",
    "brokers",
    "build",
    "complete",
    "contract_schemas",
    "dumps",
]

TITLE: Final = "Referral routing: Nottinghamshire Stalking Advocacy Service"
VERSION: Final = "1.0.0"
DOC_BOOTSTRAP: Final = "kafka:9092"
_DUMMY_DSN: Final = "postgresql://docs@127.0.0.1/docs"
_SCHEMAS: Final = "#/components/schemas/"
_EMPTY: Final = _SCHEMAS + "EmptyPayload"


def brokers() -> list[Any]:
    """The three apps' brokers, built by each app's `create_app` and never connected."""
    from services.common.kafka_security import KafkaSecurity
    from services.intake.app import create_app as intake_app
    from services.intake.config import IntakeSettings
    from services.provider_gateway.app import create_app as gateway_app
    from services.provider_gateway.config import GatewaySettings
    from services.router.config import RouterSettings
    from shared import Decision, ReferralReceived

    # Security as deployed (TLS + SCRAM-SHA-512), with no credential: the document names the
    # scheme a client must use, and never a principal. A dummy key-encryption key (32 zero
    # bytes) too: intake and the gateway require one.
    kek = {"PII_KEK_KEYS": "v1:" + "A" * 43, "PII_KEK_PRIMARY": "v1"}
    common = {
        "KAFKA_BOOTSTRAP_SERVERS": DOC_BOOTSTRAP,
        "database_url": _DUMMY_DSN,
        "kafka_security": KafkaSecurity(),
    } | kek
    # model_validate, not the constructor: the environment must not change the document.
    # The web form's draft key is required; a dummy one (32 zero bytes) builds the document.
    intake = IntakeSettings.model_validate(common | {"web_draft_key": "A" * 43})
    router = RouterSettings.model_validate(common)
    gateway = GatewaySettings.model_validate(
        common
        | {f"WEBHOOK_SECRET_{p.upper()}": "whsec_" + "A" * 32 for p in topics.PROVIDER_CODES}
        | {f"PROVIDER_API_KEY_{p.upper()}": "docs-" + "k" * 16 for p in topics.PROVIDER_CODES}
    )

    def no_rules(_referral: ReferralReceived) -> Decision:
        raise NotImplementedError("the documentation build decides nothing")

    return [
        _broker_of(intake_app(intake)),
        _router_broker(router, no_rules),
        _broker_of(gateway_app(gateway)),
    ]


def _broker_of(app: Any) -> Any:
    """The broker an app keeps on its runtime (`app.state.runtime.broker`)."""
    return app.state.runtime.broker


def _router_broker(settings: Any, decide: Any) -> Any:
    """The router's broker: from `build_broker` where the router has one, else from its app."""
    from services.router import app as router

    build_broker = getattr(router, "build_broker", None)
    if build_broker is not None:

        def no_store() -> Any:
            raise NotImplementedError("the documentation build stores nothing")

        return build_broker(
            settings.kafka_bootstrap_servers,
            decide=decide,
            store=no_store,
            security=settings.kafka_security,
        )
    return _broker_of(router.create_app(settings, decide=decide))


def _rewrite_refs(node: Any) -> Any:
    if isinstance(node, dict):
        return {
            k: (
                v.replace("#/$defs/", _SCHEMAS)
                if k == "$ref" and isinstance(v, str)
                else _rewrite_refs(v)
            )
            for k, v in node.items()
        }
    if isinstance(node, list):
        return [_rewrite_refs(v) for v in node]
    return node


def contract_schemas() -> dict[str, dict[str, Any]]:
    """Every contract model's schema and sub-schema, keyed by name, refs pointing at components."""
    flat: dict[str, dict[str, Any]] = {}
    for name, original in json_schemas().items():
        schema = copy.deepcopy(original)
        for sub_name, sub in schema.pop("$defs", {}).items():
            flat.setdefault(sub_name, _rewrite_refs(sub))
        flat.setdefault(name, _rewrite_refs(schema))
    return flat


def _channel_id(topic: str) -> str:
    return "contract." + topic.replace(".", "-")


def _message(topic: str, spec: ContractTopic) -> dict[str, Any]:
    return {
        "title": f"{spec.model} on {topic}",
        "contentType": "application/json",
        "payload": {"$ref": _SCHEMAS + spec.model},
        "headers": {"$ref": _SCHEMAS + HEADERS_SCHEMA},
    }


def _template_identity_channels(channels: dict[str, Any]) -> None:
    """A pattern subscriber's channel becomes its address template, with the parameter."""
    for pattern, (template, parameter, _) in IDENTITY_TOPICS.items():
        for channel in channels.values():
            if channel.get("address") == pattern:
                channel["address"] = template
                channel.setdefault("bindings", {}).setdefault("kafka", {})["topic"] = template
                channel["parameters"] = {
                    parameter: {
                        "description": f"the {parameter} id: only its principal may write it"
                    }
                }


def complete(document: dict[str, Any]) -> dict[str, Any]:
    """FastStream's document with every contract topic, schema, header and publisher added."""
    doc = copy.deepcopy(document)
    components = doc.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    messages = components.setdefault("messages", {})
    channels = doc.setdefault("channels", {})
    operations = doc.setdefault("operations", {})
    for name, schema in contract_schemas().items():
        schemas.setdefault(name, schema)
    schemas[HEADERS_SCHEMA] = CLOUDEVENT_HEADERS
    schemas.pop("EmptyPayload", None)
    server_refs = [{"$ref": f"#/servers/{name}"} for name in doc.get("servers", {})]

    _template_identity_channels(channels)
    identity = {template: spec for template, _, spec in IDENTITY_TOPICS.values()}
    for topic, spec in {**CONTRACT, **identity}.items():
        # Sorted: FastStream's order of subscribers varies from one build to the next.
        mine = sorted(cid for cid, ch in channels.items() if ch.get("address") == topic)
        for cid in mine:  # subscribers' channels: a raw handler's empty payload gets the model
            for ref in channels[cid].get("messages", {}).values():
                message = messages[ref["$ref"].removeprefix("#/components/messages/")]
                if message.get("payload", {}).get("$ref", _EMPTY) == _EMPTY:
                    message["payload"] = {"$ref": _SCHEMAS + spec.model}
                message["headers"] = {"$ref": _SCHEMAS + HEADERS_SCHEMA}
                message.setdefault("contentType", "application/json")
        channel_id = mine[0] if mine else _channel_id(topic)
        about = f"Written by {', '.join(spec.writers)}; read by {spec.readers}; key: {spec.key}."
        if not mine:
            message_id = f"{channel_id}:Message"
            messages[message_id] = _message(topic, spec)
            channels[channel_id] = {
                "address": topic,
                "description": about,
                "servers": server_refs,
                "messages": {"Message": {"$ref": f"#/components/messages/{message_id}"}},
                "bindings": {"kafka": {"topic": topic, "bindingVersion": "0.4.0"}},
            }
        else:
            for cid in mine:
                channels[cid].setdefault("description", about)
        message_key = next(iter(channels[channel_id]["messages"]))
        for writer in spec.writers:
            if writer not in SERVICES:
                continue
            operations[f"{writer}/send/{topic}"] = {
                "action": "send",
                "channel": {"$ref": f"#/channels/{channel_id}"},
                "messages": [{"$ref": f"#/channels/{channel_id}/messages/{message_key}"}],
            }
    return doc


def build() -> dict[str, Any]:
    """The complete AsyncAPI 3.0.0 document of the project's topics."""
    from faststream.specification import AsyncAPI

    spec = AsyncAPI(
        *brokers(),
        title=TITLE,
        version=VERSION,
        description="Kafka topics of contract v1 (../shared/contract.md): referrals, "
        "decisions, assignments, provider answers and the PII-free ops topics.",
        schema_version="3.0.0",
    )
    document: dict[str, Any] = spec.to_specification().to_jsonable()
    return complete(document)


def dumps(document: dict[str, Any]) -> str:
    """The document as stable text: keys sorted, so a rebuild diffs only where it changed."""
    return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
