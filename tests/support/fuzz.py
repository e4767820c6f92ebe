"""The Kafka edge fuzzer's messages (hypothesis strategies) and how each is accounted for.

A fuzz message goes to one consumed topic and is of one kind: valid (binary or structured
mode), repeated, random bytes, a header value that is not UTF-8, a duplicated or huge header,
no `ce_*` headers, a missing `ce_id`, an odd key, or JSON of the wrong shape. Every message
that is not valid carries the run's marker (in its key, a header, its body or a field name):
the marker must never reach a log line or an `ops.*` topic. A valid message carries it only in
its `ce_id`, which the services may log only as a digest.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from uuid import uuid4

from hypothesis import strategies as st

from shared.cloudevents import (
    TYPE_DECIDED,
    TYPE_OPS_EVENT,
    TYPE_RECEIVED,
    TYPE_RESPONSE,
    TYPE_SUBMITTED,
)
from shared.topics import (
    ASSIGNMENTS_RESPONSES,
    OPS_EVENTS,
    REFERRALS_DECIDED,
    REFERRALS_RECEIVED,
    REFERRALS_SUBMITTED,
)
from tests.support.kafka import cloudevent

# Each consumed topic and the services that consume it.
CONSUMERS: dict[str, tuple[str, ...]] = {
    REFERRALS_SUBMITTED: ("intake",),
    REFERRALS_RECEIVED: ("router", "provider_gateway"),
    REFERRALS_DECIDED: ("intake", "provider_gateway"),
    ASSIGNMENTS_RESPONSES: ("provider_gateway",),
    OPS_EVENTS: ("intake",),
}
CE_TYPES = {
    REFERRALS_SUBMITTED: TYPE_SUBMITTED,
    REFERRALS_RECEIVED: TYPE_RECEIVED,
    REFERRALS_DECIDED: TYPE_DECIDED,
    ASSIGNMENTS_RESPONSES: TYPE_RESPONSE,
    OPS_EVENTS: TYPE_OPS_EVENT,
}
AGENCY = "notts-police"
# Topics where a valid message has an effect we can observe (a referral, a decision).
EFFECTIVE = (REFERRALS_SUBMITTED, REFERRALS_RECEIVED)
BROKEN = ("garbage", "bad_utf8", "duplicate", "no_ce", "missing_id", "odd_key", "wrong_shape")
KINDS = (*BROKEN, "valid", "repeat", "huge_header", "structured")


@dataclass
class Fuzz:
    topic: str
    kind: str
    key: bytes | None
    headers: list[tuple[str, bytes]]
    value: bytes
    submission_id: str | None = None  # submissions: how a rejection or an effect is found
    referral_id: str | None = None  # valid received referrals: how their effect is found
    sent_at: list[tuple[int, int]] = field(default_factory=list)  # (partition, offset)

    @property
    def valid(self) -> bool:
        return self.kind in ("valid", "repeat", "huge_header") or (
            self.kind == "structured" and self.topic == REFERRALS_SUBMITTED
        )


def _ce(topic: str, marker: str) -> list[tuple[str, bytes]]:
    extra = {"agency_id": AGENCY} if topic == REFERRALS_SUBMITTED else {}
    headers = cloudevent(CE_TYPES[topic], **extra) | {"ce_id": f"{marker}-{uuid4()}"}
    return [(k, v.encode()) for k, v in headers.items()]


def _valid_body(topic: str, example: dict[str, Any]) -> tuple[dict[str, Any], str, str | None]:
    submission = json.loads(json.dumps(example)) | {"submission_id": f"FZ-{uuid4().hex[:16]}"}
    if topic == REFERRALS_SUBMITTED:
        return submission, submission["submission_id"], None
    rid = str(uuid4())
    received = {
        "referral_id": rid,
        "received_at": datetime.now(UTC).isoformat(),
        "referrer_agency": AGENCY,
        "submission": submission,
    }
    return received, submission["submission_id"], rid


def valid(topic: str, kind: str, marker: str, example: dict[str, Any]) -> Fuzz:
    """A valid message for `topic` (an empty body where no valid message has an effect)."""
    body, sid, rid = _valid_body(topic, example) if topic in EFFECTIVE else ({}, None, None)
    key = (rid or sid or "").encode()
    value = json.dumps(body).encode()
    return Fuzz(topic, kind, key, _ce(topic, marker), value, submission_id=sid, referral_id=rid)


@st.composite
def fuzz_message(draw: st.DrawFn, marker: str, example: dict[str, Any]) -> Fuzz:
    """One message for one consumed topic, of one kind (see the module's docstring)."""
    topic = draw(st.sampled_from(sorted(CONSUMERS)))
    kinds = KINDS if topic in EFFECTIVE else (*BROKEN, "structured")
    kind = draw(st.sampled_from(kinds))
    headers = _ce(topic, marker)
    noise = draw(st.binary(max_size=16))
    if kind in ("valid", "repeat", "huge_header", "structured"):
        m = valid(topic, kind, marker, example)
        if kind == "huge_header":
            m.headers.append(("x-fuzz-huge", (marker * (65_536 // len(marker))).encode()))
        if kind == "structured":
            event = {"specversion": "1.0", "id": f"{marker}-s", "source": "urn:fuzz"}
            event |= {"type": CE_TYPES[topic], "data": json.loads(m.value)}
            m.value = json.dumps(event).encode()
            m.headers = [h for h in m.headers if not h[0].startswith("ce_")]
            m.headers = [(n, v) for n, v in m.headers if n != "content-type"]
            m.headers.append(("content-type", b"application/cloudevents+json"))
        return m
    sid = f"FZ-{uuid4().hex[:16]}"
    shape = {f"{marker}_field": marker, "submission_id": sid}
    value = json.dumps(shape).encode()
    key: bytes | None = f"{marker}-key".encode()
    if kind == "garbage":
        value = b"\x00" + noise + marker.encode()
    elif kind == "bad_utf8":
        name = draw(st.sampled_from(["agency-id", "ce_id", "ce_type", "ce_subject", "x-fuzz"]))
        headers = [h for h in headers if h[0] != name] + [(name, b"\xff\xfe" + marker.encode())]
    elif kind == "duplicate":
        name = draw(st.sampled_from(["ce_id", "ce_type", "content-type", "ce_specversion"]))
        headers.append((name, f"{marker}-again".encode()))
    elif kind == "no_ce":
        headers = [h for h in headers if not h[0].startswith("ce_")]
    elif kind == "missing_id":
        headers = [h for h in headers if h[0] != "ce_id"]
    elif kind == "odd_key":
        key = draw(st.sampled_from([b"", b"\xff\xfe" + marker.encode() + noise, None]))
    return Fuzz(topic, kind, key, headers, value, submission_id=sid)
