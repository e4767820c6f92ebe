"""Intake's use cases: plain functions on the seams in `ports`, the rules in `domain/`.

- `referrals`: accept a submission once (HTTP, web or Kafka), reject a refused Kafka submission
  through the outbox, and record the status changes other services announce (the timeline);
- `erasure`: erase one referral (operator, command line) and the retention job.

The names the entry points (`subscribers`, `api/`, `bootstrap`, `__main__`) import are
re-exported here.
"""

from services.intake.handlers.erasure import (
    RetentionRun,
    erase_referral,
    retention_schedule,
    retention_step,
    run_retention,
)
from services.intake.handlers.referrals import (
    accept_submission,
    handle_submission,
    record_decision,
    record_ops_event,
    reject,
)

__all__ = [
    "RetentionRun",
    "accept_submission",
    "erase_referral",
    "handle_submission",
    "record_decision",
    "record_ops_event",
    "reject",
    "retention_schedule",
    "retention_step",
    "run_retention",
]
