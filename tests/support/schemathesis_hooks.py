"""Schemathesis hooks for the project's API runs (loaded through `SCHEMATHESIS_HOOKS`).

The OpenAPI documents say in JSON Schema every rule of a submission but those that compare two
values: dates after `submitted_at`, `submitted_at` after the clock, a first incident after the
last. JSON Schema cannot express them, so a schema-valid submission may break them and be
rightly refused (422). This hook moves those dates into order in the *positive* cases only,
leaving every schema-valid value schema-valid, so that `positive_data_acceptance` checks what
the schema promises and generated submissions reach acceptance (201). Negative cases are sent
as generated. Each positive submission also gets a fresh `submission_id`: the generator
repeats short ids ("0"), and an id already used for other content is rightly a 409.

For the gateway, positive cases address the assignment the test seeded (its id in
`SCHEMATHESIS_REFERRAL_ID`), and an answer names the referral of its path, which the schema
cannot require either; so reads find an assignment (200) and the stateful link from a read to
an answer is followed.
"""

from __future__ import annotations

import os
from datetime import UTC, date, datetime, timedelta
from typing import Any
from uuid import uuid4

import schemathesis


def _datetime(value: Any) -> datetime | None:
    try:
        parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else None


def _date(value: Any) -> date | None:
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        return None


def order_dates(body: dict[str, Any], now: datetime) -> None:
    """Put a submission's dates in the order the validators need, in place."""
    submitted = _datetime(body.get("submitted_at"))
    if submitted is None:
        return
    if submitted > now:
        submitted = now - timedelta(minutes=1)
        body["submitted_at"] = submitted.isoformat()
    day = submitted.date()
    sections = [body.get(k) for k in ("victim", "conduct", "consent")]
    victim, conduct, consent = (s if isinstance(s, dict) else {} for s in sections)
    for section, key in ((victim, "date_of_birth"), (conduct, "first_incident_on")):
        value = _date(section.get(key))
        if value is not None and value > day:
            section[key] = day.isoformat()
    first, last = _date(conduct.get("first_incident_on")), _date(conduct.get("last_incident_on"))
    if last is not None and (last > day or (first is not None and first > last)):
        conduct["last_incident_on"] = day.isoformat()
        if first is not None and first > day:
            conduct["first_incident_on"] = day.isoformat()
    recorded = _datetime(consent.get("recorded_at"))
    if recorded is not None and recorded > submitted:
        consent["recorded_at"] = submitted.isoformat()


@schemathesis.hook
def map_case(_context: schemathesis.HookContext, case: Any) -> Any:
    meta = case.meta
    positive = meta is not None and meta.generation.mode.is_positive
    if positive and case.operation.path == "/v1/referrals" and isinstance(case.body, dict):
        order_dates(case.body, datetime.now(UTC))
        case.body["submission_id"] = f"ST-{uuid4().hex}"
    seeded = os.environ.get("SCHEMATHESIS_REFERRAL_ID")
    if positive and seeded and case.operation.path.startswith("/v1/assignments/"):
        case.path_parameters = {**(case.path_parameters or {}), "referral_id": seeded}
        if isinstance(case.body, dict):
            case.body["referral_id"] = seeded
    return case
