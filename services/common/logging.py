"""structlog, configured once per process: JSON off a terminal, with personal fields redacted.

Rules kept here:
- every line carries `service`; a consumer's lines carry the message's `referral_id` and
  `event_id` (bound by the broker's middleware), and any line written in a span its `trace_id`;
- a redaction processor replaces the value of any key that names personal data, at any depth,
  so that logging a whole model or payload by mistake leaks nothing;
- values that are pydantic models are dumped first so the redaction sees their fields;
- the Kafka client's repeated lines are collapsed into a first line and a count
  (`log_repeats`).
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Mapping, MutableMapping
from typing import Any, Final

import structlog
from pydantic import BaseModel

from services.common.log_repeats import RepeatCollapser
from services.common.telemetry import trace_fields

REDACTED: Final = "[redacted]"

# Keys whose values are personal data wherever they appear (contract fields and their kin).
PERSONAL_KEYS: Final = frozenset(
    {
        "name",
        "email",
        "phone",
        "postcode",
        "date_of_birth",
        "dob",
        "age",
        "safe_times",
        "safe_contact",
        "victim",
        "referrer",
        "perpetrator",
        "details",
        "submission",
        "referral",
        "police_crime_reference",
        "organisation",
        "address",
        "body",
        "payload",
        "raw",
        "input",
        "lawful_basis_without_consent",
        "reason",
    }
)


def _redact(value: Any, depth: int = 0) -> Any:
    if depth > 8:
        return REDACTED
    if isinstance(value, BaseModel):
        value = value.model_dump(mode="json")
    if isinstance(value, Mapping):
        return {
            k: (REDACTED if str(k).lower() in PERSONAL_KEYS else _redact(v, depth + 1))
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [_redact(v, depth + 1) for v in value]
    return value


def redact_personal_fields(
    _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """structlog processor: blank out personal fields at any depth of the event."""
    for key in list(event_dict):
        if key == "event":
            continue
        event_dict[key] = REDACTED if key.lower() in PERSONAL_KEYS else _redact(event_dict[key])
    return event_dict


def configure_logging(service: str, *, level: str = "INFO", json: bool | None = None) -> None:
    """Configure structlog and route stdlib logging (aiokafka, uvicorn) through it."""
    use_json = (not sys.stderr.isatty()) if json is None else json
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        trace_fields,
        redact_personal_fields,
    ]
    renderer: Any = (
        structlog.processors.JSONRenderer() if use_json else structlog.dev.ConsoleRenderer()
    )
    structlog.configure(
        processors=[*shared, structlog.processors.format_exc_info, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level)),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
        cache_logger_on_first_use=True,
    )
    structlog.contextvars.bind_contextvars(service=service)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            processor=renderer,
            foreign_pre_chain=[*shared, structlog.stdlib.add_logger_name],
        )
    )
    # While Kafka is down, aiokafka repeats itself ~100 times a second: first line, then a count.
    handler.addFilter(RepeatCollapser())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for noisy in ("aiokafka", "kafka"):
        logging.getLogger(noisy).setLevel("WARNING")
