"""The consumer edge: what every consumed Kafka record goes through before a handler sees it.

Rules kept here:
- parsing never raises. FastStream's own parser decodes every header value as UTF-8 and, on a
  value that is not, raises before any middleware's `consume_scope` runs (and its fallback
  parser raises again, logging the raw bytes at critical level, and the record is skipped).
  `tolerant_parser` hands FastStream a copy of the record holding only decodable headers and
  marks the message with an edge fault instead; the dead-letter middleware turns the fault
  into a dead letter, so nothing vanishes;
- a header that carries meaning (a `ce_*` attribute, `content-type`, `agency-id`, the trace
  context) must appear once: a second copy is a fault too, since which one to believe is
  anyone's guess;
- nothing derived from input reaches a log line or an `ops.*` record unless the system minted
  or validated it: a key or event id that is not a UUID (optionally behind our own `name:`
  prefixes) becomes `sha256:<hex16>`; a field path keeps only names from the contract's
  schemas (and list indexes), any other name becomes the marker `unknown_field`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
from collections.abc import Awaitable, Callable, Iterable
from functools import cache
from typing import Any, Final

from faststream import StreamMessage

# Set by `tolerant_parser` only (a copy sent from outside is dropped first): "<reason>:<fields>".
FAULT_HEADER: Final = "x-nottssas-edge-fault"
UNKNOWN_FIELD: Final = "unknown_field"

CE_ATTRIBUTES: Final = frozenset(
    {"id", "source", "type", "specversion", "time", "subject", "dataschema", "datacontenttype"}
)
# Headers whose meaning we rely on: each may appear at most once.
SIGNIFICANT_HEADERS: Final = frozenset(
    {f"ce_{a}" for a in CE_ATTRIBUTES - {"datacontenttype"}}
    | {"content-type", "agency-id", "traceparent", "tracestate"}
)

# Our subscribers' body parameters: FastStream puts the parameter's name first in the path of
# a validation error (`referral.received_at`), and these names are ours, not the input's.
HANDLER_PARAMETERS: Final = frozenset({"referral", "decision", "event", "response"})

_UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
_MINTED = re.compile(rf"^(?:[a-z_]{{1,20}}:){{0,3}}{_UUID}$")
_UUID_ONLY = re.compile(rf"^{_UUID}$")


class PoisonMessage(Exception):
    """A message that can never be processed as it stands; it belongs on the dead-letter topic."""

    def __init__(self, reason_code: str, fields: list[str] | None = None) -> None:
        super().__init__(reason_code)
        self.reason_code = reason_code
        self.fields = fields or []


def digest(value: bytes | str) -> str:
    """A stable reference to an unvalidated value that reveals nothing of it."""
    raw = value.encode() if isinstance(value, str) else value
    return "sha256:" + hashlib.sha256(raw).hexdigest()[:16]


def safe_key(raw: bytes | str | None) -> str | None:
    """A message key fit for ops: a referral id as is, anything else as its digest."""
    if raw is None:
        return None
    text = raw.decode("ascii", errors="replace") if isinstance(raw, bytes) else raw
    return text if _UUID_ONLY.match(text) else digest(raw)


def safe_id(value: str) -> str:
    """An event id fit for logs: one of the ids we mint (a UUID, maybe prefixed), else a digest."""
    return value if _MINTED.match(value) else digest(value)


@cache
def _schema_names() -> frozenset[str]:
    """Every property name of every contract model: names the system chose, not the input."""
    from shared.schemas import json_schemas

    names: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            props = node.get("properties")
            if isinstance(props, dict):
                names.update(props)
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(json_schemas())
    return frozenset(names | HANDLER_PARAMETERS)


def safe_field(path: str) -> str:
    """A dotted field path with every name not in the contract replaced by `unknown_field`."""
    known = _schema_names()
    parts = path.replace("[", ".").replace("]", "").split(".")
    if parts and parts[0] == "headers":
        head = parts[1] if len(parts) > 1 else ""
        return f"headers.{head}" if head in SIGNIFICANT_HEADERS else f"headers.{UNKNOWN_FIELD}"
    kept = [p if (p.isdigit() or p in known or p == "(body)") else UNKNOWN_FIELD for p in parts]
    return ".".join(kept)


def _is_utf8(value: bytes) -> bool:
    try:
        value.decode("utf-8")
    except UnicodeDecodeError:
        return False
    else:
        return True


def _header_faults(
    headers: Iterable[tuple[str, bytes | None]],
) -> tuple[list[tuple[str, bytes]], str | None, list[str]]:
    clean: list[tuple[str, bytes]] = []
    seen: set[str] = set()
    reason: str | None = None
    fields: list[str] = []
    for name, value in headers:
        lowered = name.lower()
        if lowered == FAULT_HEADER:
            continue
        if value is None or not _is_utf8(value):
            reason = reason or "header_not_utf8"
            fields.append(safe_field(f"headers.{lowered}"))
            continue
        if lowered in SIGNIFICANT_HEADERS and lowered in seen:
            reason = reason or "duplicate_header"
            fields.append(f"headers.{lowered}")
            continue
        seen.add(lowered)
        clean.append((name, value))
    return clean, reason, fields


async def tolerant_parser(
    record: Any, original: Callable[[Any], Awaitable[StreamMessage[Any]]]
) -> StreamMessage[Any]:
    """FastStream parser (composed with the default one) that never raises on headers."""
    clean, reason, fields = _header_faults(record.headers or ())
    if reason is None and len(clean) == len(record.headers or ()):
        return await original(record)
    message = await original(dataclasses.replace(record, headers=tuple(clean)))
    if reason is not None:
        message.headers[FAULT_HEADER] = f"{reason}:{','.join(sorted(set(fields)))}"
    return message


def raise_edge_fault(message: StreamMessage[Any]) -> None:
    """Raise the fault `tolerant_parser` found in this message's headers as a PoisonMessage."""
    marked = message.headers.get(FAULT_HEADER)
    if isinstance(marked, str):
        reason, _, fields = marked.partition(":")
        raise PoisonMessage(reason, [f for f in fields.split(",") if f])
